"""Topic tagging: lexicons, the two-sentence rule, category hints, configured extras."""

from __future__ import annotations

from ingest.tagging import TagRules, tag_article


def test_elections_topic():
    result = tag_article(
        "Ruling party concedes defeat as opposition wins parliamentary election",
        "Turnout was the highest in two decades, the electoral commission said.",
        "Voters queued for hours at polling stations across the country. The opposition "
        "candidate won 54 percent of the vote, and a recount was ruled out. Campaigners said "
        "the result would reshape the parliament.",
    )
    assert "elections" in result.topics
    assert "politics" in result.topics


def test_referendum_is_elections_in_french():
    result = tag_article(
        "Les électeurs approuvent la réforme par référendum",
        "Le scrutin a attiré une participation record.",
        "Les électeurs ont voté à 58 % pour la réforme. Les résultats de l'élection seront "
        "publiés lundi.",
    )
    assert "elections" in result.topics


def test_science_technology_topic():
    result = tag_article(
        "Researchers unveil chip that runs AI models on a fraction of the power",
        "The semiconductor design could cut the energy use of data centres.",
        "Scientists at the laboratory said the new chip ran machine learning models ten times "
        "more efficiently. The research, published on Wednesday, used a novel computing "
        "architecture. Engineers plan to test it in smartphones next year.",
    )
    assert "science-technology" in result.topics


def test_single_sentence_theme_is_not_a_topic():
    result = tag_article(
        "Farmers harvest record wheat crop",
        "Good rains lifted yields across the plains.",
        "Farmers said yields were the best in a decade after steady rains. Grain silos filled "
        "quickly and some crops were stored in the open. One farmer said a court case over "
        "water rights was still pending.",
    )
    assert "law-justice" not in result.topics


def test_spanish_topics():
    result = tag_article(
        "El banco central sube los tipos de interés",
        "La inflación alcanzó su nivel más alto en diez años.",
        "La economía creció menos de lo previsto. Los precios de los alimentos subieron un "
        "8 por ciento y el mercado reaccionó con caídas.",
    )
    assert "economy-business" in result.topics


def test_feed_category_is_a_hint():
    title = "Season opener set for Saturday"
    plain = tag_article(title)
    hinted = tag_article(title, categories=("Sport",))
    assert "sports" not in plain.topics
    assert "sports" in hinted.topics


def test_configured_extra_topic_and_keyword():
    rules = TagRules.build(
        extra_topics={"space": {"rocket*": 2.0, "orbit*": 2.0, "launch pad": 2.0}},
        extra_keywords={"energy": {"hydrogen": 3.0}},
    )
    text = (
        "The rocket reached orbit on its third attempt. Engineers said the launch pad was "
        "repaired. The upper stage burned hydrogen. Hydrogen supply at the site was tight."
    )
    result = tag_article("Rocket reaches orbit", "", text, rules=rules)
    assert "space" in result.topics
    assert "space" not in tag_article("Rocket reaches orbit", "", text).topics
    assert "energy" in result.topics
    assert "space" in rules.topic_names()


def test_no_topic_words_no_topics():
    assert tag_article("A quiet day", "Nothing much happened.").topics == ()
