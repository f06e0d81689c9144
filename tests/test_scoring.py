import math

import pytest

from asr_app.present import diff_html
from asr_core.scoring import WordDiff, cer, normalize, wer, word_errors


@pytest.mark.parametrize("text, expected", [
    ("Mr. Smith's colour", "mister smith is color"),
    ("HELLO, World!", "hello world"),
    ("twenty five", "25"),
    ("it cost five percent", "it cost 5%"),
    ("we <unk> went home", "we went home"),
    ("<unk>", ""),
    ("ignore_time_segment_in_scoring", ""),
    ("um the theatre", "the theater"),
])
def test_normalize_examples(text, expected):
    assert normalize(text) == expected


def test_tedlium_split_contractions_join_like_written_ones():
    for spoken, written in [("it 's", "it's"), ("we 're here", "we're here"), ("don 't", "don't")]:
        assert normalize(spoken) == normalize(written)
    assert normalize("it 's fine") == "it is fine"


def test_numbers_in_words_and_digits_score_equal():
    assert normalize("twenty five") == normalize("25")
    assert wer(["I have twenty five cats."], ["i have 25 cats"]) == 0.0


def test_wer_counts_substitution_deletion_insertion():
    # 1 substitution (sat -> sit), 1 deletion (the), over 6 reference words
    assert wer(["the cat sat on the mat"], ["the cat sit on mat"]) == pytest.approx(2 / 6)
    # 1 insertion over 3 reference words
    assert wer(["a b c"], ["a b c d"]) == pytest.approx(1 / 3)


def test_wer_is_corpus_level_not_mean_of_utterances():
    # 1 error in 1 word + 0 errors in 4 words = 1/5, whereas the mean per utterance would be 0.5
    assert wer(["yes", "the red fox ran"], ["no", "the red fox ran"]) == pytest.approx(1 / 5)


def test_wer_ignores_case_punctuation_and_spelling():
    assert wer(["The colour, of Mr. Smith's car."], ["the color of mister smith's car"]) == 0.0


def test_wer_silence_is_one_and_unk_is_not_scored():
    assert wer(["hello world"], [""]) == 1.0
    assert wer(["hello <unk> world"], ["hello world"]) == 0.0


def test_wer_empty_references():
    assert wer(["a b", ""], ["a b", ""]) == 0.0  # nothing said, nothing heard: no errors
    assert wer(["a b", "<unk>"], ["a b", "x y"]) == 1.0  # 2 insertions / 2 reference words
    assert wer([""], [""]) == 0.0
    assert wer([""], ["hello"]) == math.inf
    assert math.isnan(wer([], []))


def test_wer_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer(["a", "b"], ["a"])


def test_cer():
    assert cer(["abcd"], ["abxd"]) == pytest.approx(1 / 4)
    assert cer(["ab cd"], ["ab"]) == pytest.approx(3 / 5)  # " cd" deleted, space included
    assert cer(["ab", ""], ["ab", "xy"]) == pytest.approx(2 / 2)
    assert cer(["hello"], [""]) == 1.0
    assert math.isnan(cer([], []))


def test_word_errors_one_of_each_kind():
    d = word_errors("alpha beta gamma delta epsilon zeta", "Alpha bravo, gamma epsilon zeta eta.")
    assert d.ops == (
        ("equal", "alpha", "alpha"),
        ("substitute", "beta", "bravo"),
        ("equal", "gamma", "gamma"),
        ("delete", "delta", None),
        ("equal", "epsilon", "epsilon"),
        ("equal", "zeta", "zeta"),
        ("insert", None, "eta"),
    )
    assert (d.substitutions, d.deletions, d.insertions, d.hits) == (1, 1, 1, 4)
    assert d.errors == 3 and d.reference_words == 6
    assert d.errors / d.reference_words == pytest.approx(
        wer(["alpha beta gamma delta epsilon zeta"], ["Alpha bravo, gamma epsilon zeta eta."]))


def test_word_errors_empty_sides():
    assert word_errors("", "").ops == ()
    assert word_errors("<unk>", "hi there").ops == (("insert", None, "hi"), ("insert", None, "there"))
    d = word_errors("hi there", "")
    assert d.ops == (("delete", "hi", None), ("delete", "there", None)) and d.deletions == 2


def test_diff_html_marks_each_kind():
    out = diff_html(word_errors("alpha beta gamma delta", "alpha bravo gamma eta"))
    assert out.startswith("<div") and out.endswith("</div>") and "\n" not in out
    assert 'class="sub" title="ref: beta"' in out
    assert "<s " in out and ">beta</s> bravo</span>" in out
    out = diff_html(word_errors("alpha beta", "alpha beta gamma"))
    assert 'class="ins"' in out and ">gamma</span>" in out
    out = diff_html(word_errors("alpha beta", "alpha"))
    assert 'class="del"' in out and "line-through" in out and ">beta</span>" in out


def test_diff_html_escapes_text():
    d = WordDiff(ops=(("equal", "<b>", "<b>"), ("substitute", '"x"&', "<script>"), ("insert", None, "a'b")),
                 substitutions=1, deletions=0, insertions=1, hits=1)
    out = diff_html(d)
    assert "<b>" not in out and "<script>" not in out
    assert "&lt;b&gt;" in out and "&lt;script&gt;" in out
    assert 'title="ref: &quot;x&quot;&amp;"' in out and "a&#x27;b" in out
