"""Each scorer on hand-made right and wrong answers: every one can fail."""

from decimal import Decimal

from hivemesh.eval.checks import (
    ContainsCheck,
    KeywordsCheck,
    LabelCheck,
    NumberCheck,
    QuoteCheck,
    RougeCheck,
    SetCheck,
)
from hivemesh.eval.scorers import score_task, score_text_part

SUMMARY = RougeCheck(("Octopuses are highly intelligent invertebrates that solve problems and recognise people, "
                      "with most of their neurons in their arms.",))
PARAGRAPH = ("Octopuses are among the most intelligent invertebrates known. In laboratory tests they have learned "
             "to open screw-top jars, find their way through simple mazes, and recognise individual human keepers, "
             "squirting water at the ones they dislike. Unlike vertebrates, an octopus keeps most of its neurons in "
             "its arms rather than its central brain, so each arm can taste, touch and react partly on its own.")


def score(check, answer):  # type: ignore[no-untyped-def]
    return score_text_part("p", check, answer)


def test_rouge_right_summary_passes_other_topic_and_copy_fail() -> None:
    right = score(SUMMARY, "Octopuses are clever: they open jars, recognise people and keep most neurons in their arms.")
    assert right.satisfied and right.score > 0.25
    other = score(SUMMARY, "Coral reefs bleach when warm seas drive out the algae that feed them.")
    assert not other.satisfied and other.score < 0.2
    copy = score(SUMMARY, PARAGRAPH)  # a copy is not a summary: its F1 is cut by its length
    assert not copy.satisfied and copy.score < 0.2
    assert not score(SUMMARY, "").satisfied


def test_rouge_finds_the_summary_section_of_a_longer_answer() -> None:
    answer = ("Summary:\nOctopuses are intelligent invertebrates that recognise people and keep their neurons in "
              "their arms.\n\nKeywords:\noctopus, intelligence, neurons")
    part = score(SUMMARY, answer)
    assert part.satisfied and part.segment.startswith("Octopuses")


PEOPLE = SetCheck((("Priya Natarajan", "Natarajan"), ("Marcus Oyelaran",), ("Helen Brandt",), ("Tomasz Wilk",)))


def test_set_f1_list_and_running_text() -> None:
    assert score(PEOPLE, "- Priya Natarajan\n- Marcus Oyelaran\n- Helen Brandt\n- Tomasz Wilk").score == 1.0
    assert score(PEOPLE, "The people are Natarajan, Marcus Oyelaran, Helen Brandt and Tomasz Wilk.").satisfied
    assert score(PEOPLE, "Priya Natarajan, Helen Brandt").satisfied  # P=1, R=0.5: F1 0.67
    partial = score(PEOPLE, "Priya Natarajan, Bob Smith, Ann Lee, Joe Bloggs")
    assert not partial.satisfied and 0 < partial.score < 0.6


def test_set_f1_wrong_and_copied_text_fail() -> None:
    assert score(PEOPLE, "Lisbon, Porto, Madrid").score == 0.0
    copied = ("At Tuesday's meeting, Priya Natarajan presented the new budget and answered questions from the board "
              "while the others listened carefully to every single word she said about the costs")
    assert not score(PEOPLE, copied).satisfied  # running text is not a list


def test_set_each_expected_item_counts_once() -> None:
    assert score(SetCheck((("Madrid",), ("Porto",))), "Madrid, Madrid, Madrid").score < 0.6


KEYWORDS = KeywordsCheck((("glacier", "glaciers"), ("ice",), ("sea level",), ("Andes",), ("snow",)), 3)


def test_keywords_first_n_items_count() -> None:
    assert score(KEYWORDS, "Keywords: glaciers, ice, sea level").score == 1.0
    assert score(KEYWORDS, "1. glaciers\n2. tourism\n3. ice").satisfied  # 2 of 3
    assert not score(KEYWORDS, "tourism, money, glaciers, ice, snow").satisfied  # only the first 3 count
    assert not score(KEYWORDS, "glaciers, glacier, glaciers").satisfied  # one keyword thrice


def test_number_last_number_of_a_segment() -> None:
    check = NumberCheck(Decimal("233.43"), 2)
    assert score(check, "345 + 1,289 = 1,634; 1,634 / 7 = 233.428...\nAnswer: 233.43").satisfied
    assert score(check, "The result is 233.43 when rounded to two decimal places.").satisfied
    assert not score(check, "Add 345 and 1,289, then divide by 7.").satisfied
    assert not score(check, "233").satisfied
    assert not score(check, "").satisfied


def test_number_in_running_text_of_a_multi_answer() -> None:
    check = NumberCheck(Decimal(4725))
    assert score(check, "1,250 + 3,475 = 4,725. The largest city is Lagos, with 15 million people.").satisfied
    assert not score(check, "The largest city is Lagos, with 15 million people.").satisfied


SENTIMENT = LabelCheck(("positive", "negative", "neutral"), "negative")
SPAM = LabelCheck(("spam", "not spam"), "not spam", (("not spam", ("ham",)),))


def test_label_exactly_one_label_named() -> None:
    assert score(SENTIMENT, "Negative.").satisfied
    assert score(SENTIMENT, "Options: positive, negative, neutral\nAnswer: negative").satisfied
    assert not score(SENTIMENT, "Positive").satisfied
    assert not score(SENTIMENT, "It could be positive or negative.").satisfied
    assert not score(SENTIMENT, "I am not sure.").satisfied


def test_label_longer_label_hides_the_shorter() -> None:
    assert score(SPAM, "This message is not spam.").satisfied
    assert score(SPAM, "ham").satisfied
    assert not score(SPAM, "This is spam.").satisfied


CITY = ContainsCheck((("Lagos",),), ("Accra", "Kumasi"))


def test_contains_with_distractors() -> None:
    assert score(CITY, "The sum is 4725. The largest city is Lagos.").satisfied
    assert not score(CITY, "The largest city is Accra.").satisfied
    assert not score(CITY, "Accra, Lagos and Kumasi").satisfied  # naming them all is not choosing


def test_contains_threshold_for_a_translation() -> None:
    french = ContainsCheck((("bibliotheque",), ("ouvre",), ("neuf",), ("matin",)), threshold=0.75)
    assert score(french, "La vieille bibliothèque ouvre à neuf heures chaque matin.").satisfied
    assert not score(french, "The old library opens at nine every morning.").satisfied


QUOTE = QuoteCheck(("Sadly, the left earbud stopped working after only three days.",),
                   ("They arrived quickly and the case is nice.",))


def test_quote_the_sentence_not_the_whole_review() -> None:
    assert score(QUOTE, 'Negative. "Sadly, the left earbud stopped working after only three days."').satisfied
    assert score(QUOTE, "Quote:\nthe left earbud stopped working after only three days").satisfied
    whole = ("They arrived quickly and the case is nice. Sadly, the left earbud stopped working after only "
             "three days.")
    assert not score(QUOTE, whole).satisfied
    assert not score(QUOTE, "The battery is bad.").satisfied


def test_a_sentence_is_not_a_list_of_keywords() -> None:
    from hivemesh.eval.suite import load_suite

    task = {t.id: t for t in load_suite()}["multi-glacier-keywords"]
    prose = "Glaciers form from snow pressed into ice and are now shrinking, raising sea levels."
    keywords = score_task(task, prose).parts[1]
    assert keywords.score == 0 and not keywords.satisfied and not keywords.addressed
    listed = score_task(task, prose + "\n\nKeywords: glaciers, sea levels, meltwater").parts[1]
    assert listed.score == 1.0 and listed.satisfied
