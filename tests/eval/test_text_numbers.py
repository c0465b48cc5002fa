"""How answers are cut into segments and how numbers are read."""

from decimal import Decimal

from hivemesh.eval import numbers, text


def test_labelled_sections_of_a_mesh_answer() -> None:
    answer = "Summary:\nBees pollinate crops.\n\n**Keywords:** bees, pollen\n\n## Sum\n4725"
    assert text.sections(answer) == [("Summary", "Bees pollinate crops."), ("Keywords", "bees, pollen"),
                                     ("Sum", "4725")]


def test_segments_coarse_and_fine() -> None:
    answer = "The sum is 4,725. The largest city is Lagos.\nBye"
    coarse = text.segments(answer)
    fine = text.segments(answer, fine=True)
    assert coarse == [answer]
    assert "The sum is 4,725." in fine and "The largest city is Lagos." in fine and "Bye" in fine
    assert text.segments("   ") == []


def test_a_time_is_not_a_label() -> None:
    assert text.sections("We left at 9:40 sharp") == []


def test_list_items_from_bullets_commas_and_intro_lines() -> None:
    assert text.list_items("Here are three keywords:\n1. bees\n2. pollination\n- colony") == \
        ["bees", "pollination", "colony"]
    assert text.list_items("Keywords: bees, pollination and colony.") == ["bees", "pollination", "colony"]
    assert text.list_items("price: 1,289 dollars") == ["1,289 dollars"]


def test_mentions_is_whole_word_accent_and_plural_tolerant() -> None:
    assert text.mentions("La vieille Bibliothèque ouvre", "bibliotheque")
    assert text.mentions("two onions", "onion")
    assert not text.mentions("Nigeria", "Niger")
    assert not text.mentions("informal", "formal")


def test_numbers_forms() -> None:
    found = numbers.numbers_in("1,289 and 1289.0, $1,234.50, 12%, -3.5, seven, twenty-one, a hundred, 1 289")
    assert found == [Decimal(x) for x in ("1289", "1289.0", "1234.50", "12", "-3.5", "7", "21", "100", "1289")]


def test_a_list_of_small_numbers_is_not_thousands() -> None:
    assert numbers.numbers_in("3, 4, 5") == [Decimal(3), Decimal(4), Decimal(5)]


def test_decimal_places_and_pronoun_one_are_not_values() -> None:
    assert numbers.last_number("It is 233.43 (rounded to 2 decimal places).") == Decimal("233.43")
    assert numbers.last_number("208.3, to one decimal place") == Decimal("208.3")
    assert numbers.last_number("Lagos, 15 million, is the one with most people") == Decimal(15)
    assert numbers.last_number("no number here") is None


def test_rounding_match_half_up() -> None:
    assert numbers.matches(Decimal("233.428571"), Decimal("233.43"), 2)
    assert numbers.matches(Decimal("1289.0"), Decimal("1289"), None)
    assert not numbers.matches(Decimal("233.4"), Decimal("233.43"), 2)
    assert numbers.matches(Decimal("156.25"), Decimal("156.3"), 1)  # half up, not to even
