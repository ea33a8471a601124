from tallyscan.postprocess.labels import label_similarity, norm_label


def test_numbering_forms_are_equivalent():
    assert norm_label("1、属于国家秘密") == norm_label("1.属于国家秘密")
    assert norm_label("（一）予以公开") == norm_label("(一)予以公开")


def test_misprinted_label_still_matches_best():
    official = ["2.其他法律行政法规禁止公开", "1.属于国家秘密", "4.保护第三方合法权益"]
    scores = {o: label_similarity("2.其他法律行政止公开", o) for o in official}
    assert max(scores, key=scores.get) == official[0]
    assert scores[official[0]] > 0.7


def test_truncated_label_matches_its_prefix():
    # Scans are read only by the first characters of a label.
    assert label_similarity("1.本机关不", "1.本机关不掌握相关政府信息") > 0.85
    assert label_similarity("1.本机关不", "1.信访举报投诉类申请") < 0.5


def _lcs_table(a: str, b: str) -> int:
    """The textbook O(len²) dynamic programme, as the reference."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def test_bit_parallel_lcs_matches_the_table():
    import random

    from tallyscan.postprocess.labels import lcs

    rng = random.Random(7)
    alphabet = "一二三四本年制发件数0123（）.属于"
    for _ in range(3000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert lcs(a, b) == _lcs_table(a, b), (a, b)
    assert lcs("1.本机关不", "1.本机关不掌握相关政府信息") == 6
