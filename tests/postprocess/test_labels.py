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
