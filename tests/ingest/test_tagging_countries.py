"""Country tagging: names, alternative names, the ambiguity cases of issue 5, passing mentions."""

from __future__ import annotations

import pytest

from ingest.tagging import tag_article


def countries(title: str, summary: str = "", content: str = "") -> set[str]:
    return set(tag_article(title, summary, content).countries)


# (title, summary, content, must include, must not include)
CASES = [
    # Georgia: the country, and the US state when the article places it in the US
    (
        "Georgia's parliament passes foreign agents law",
        "Thousands protested outside the legislature in Tbilisi.",
        "",
        {"GE"},
        {"US"},
    ),
    (
        "Georgia governor signs voting bill",
        "County officials in Atlanta said they would challenge the law.",
        "",
        {"US"},
        {"GE"},
    ),
    # Jordan: the country vs a person's name
    (
        "Jordan hosts talks on regional water sharing",
        "Officials in Amman said ministers from five states would attend.",
        "",
        {"JO"},
        set(),
    ),
    (
        "Kieran Jordan scores twice as United win derby",
        "The striker's second goal came late.",
        "Kieran Jordan scored twice on Saturday. Jordan said afterwards the team deserved it.",
        set(),
        {"JO"},
    ),
    # Turkey vs turkey
    (
        "Türkiye's parliament approves budget",
        "Lawmakers in Ankara voted late on Monday.",
        "",
        {"TR"},
        set(),
    ),
    (
        "Turkey prices soar before Thanksgiving",
        "Farmers say a turkey now costs 30 percent more than last year.",
        "",
        set(),
        {"TR"},
    ),
    # Chad vs the first name
    (
        "Chad Okafor named coach of the year",
        "The former midfielder led his club to a title.",
        "Chad Okafor, 41, took over the squad in March.",
        set(),
        {"TD"},
    ),
    (
        "Chad closes its eastern border as fighting spreads",
        "N'Djamena said refugees would still be admitted.",
        "",
        {"TD"},
        set(),
    ),
    # Niger vs Nigeria, and the Niger Delta
    (
        "Niger junta reopens border crossing",
        "The military government in Niamey said trucks could pass.",
        "",
        {"NE"},
        {"NG"},
    ),
    (
        "Fuel shortages spread in Lagos",
        "Pipeline sabotage in the Niger Delta cut supplies.",
        "",
        {"NG"},
        {"NE"},
    ),
    # the Guineas
    ("Guinea-Bissau president dissolves parliament", "", "", {"GW"}, {"GN"}),
    ("Landslide in Papua New Guinea buries village", "", "", {"PG"}, {"GN"}),
    ("Equatorial Guinea holds presidential vote", "", "", {"GQ"}, {"GN"}),
    (
        "Guinea's junta sets referendum date",
        "Voters in Conakry will decide in September.",
        "",
        {"GN"},
        {"GW", "GQ", "PG"},
    ),
    # Sudan vs South Sudan
    ("South Sudan postpones election again", "Juba said the vote would move.", "", {"SS"}, {"SD"}),
    ("Sudan army retakes presidential palace in Khartoum", "", "", {"SD"}, {"SS"}),
    # Congo vs DR Congo
    (
        "DR Congo and rebels sign truce",
        "Kinshasa said the deal covers North Kivu.",
        "",
        {"CD"},
        {"CG"},
    ),
    (
        "Republic of Congo votes for president",
        "Voters in Brazzaville queued from dawn.",
        "",
        {"CG"},
        {"CD"},
    ),
    ("Congolese voters go to the polls", "Turnout in Brazzaville was high.", "", {"CG"}, {"CD"}),
    # Dominica vs the Dominican Republic
    ("Dominica opens geothermal power plant", "", "", {"DM"}, {"DO"}),
    (
        "Dominican Republic deports thousands",
        "Santo Domingo defended the policy.",
        "",
        {"DO"},
        {"DM"},
    ),
    # India vs Indiana; New Mexico vs Mexico; New South Wales vs Wales
    ("Indiana lawmakers approve state budget", "", "", {"US"}, {"IN"}),
    ("India launches lunar probe", "", "", {"IN"}, {"US"}),
    ("New Mexico wildfire forces evacuations", "", "", {"US"}, {"MX"}),
    ("Mexico raises tariffs on steel", "", "", {"MX"}, {"US"}),
    ("Bushfires threaten homes in New South Wales", "", "", {"AU"}, {"GB"}),
    ("Welsh-language festival opens in Cardiff", "", "", {"GB"}, {"AU"}),
    # Paris, Texas
    (
        "Paris celebrates its rodeo anniversary",
        "",
        "PARIS, Texas — The town marked the 100th rodeo on Saturday. Paris has 25,000 people.",
        {"US"},
        {"FR"},
    ),
    ("Paris hosts climate talks", "", "", {"FR"}, {"US"}),
    # Washington: the government and the state are both the United States
    ("Washington imposes sanctions on Caracas", "", "", {"US", "VE"}, set()),
    ("Washington state sues over water rights", "", "", {"US"}, set()),
    # names that contain a country's name
    ("Iraqi premier al-Sudani meets Gulf envoys", "", "", {"IQ"}, {"SD"}),
    ("Storm lashes ships in the Indian Ocean", "", "", set(), {"IN"}),
    ("Tensions rise over reefs in the South China Sea", "", "", set(), {"CN"}),
    ("Oil spill reaches the Gulf of Finland", "", "", set(), {"FI"}),
    ("Turkish Cypriot leader rejects federation plan", "", "", set(), {"TR"}),
    # alternative and former names, demonyms, metonyms
    ("Burma's junta extends emergency rule", "", "", {"MM"}, set()),
    ("Swaziland renames itself", "", "", {"SZ"}, set()),
    ("Ivory Coast and Côte d'Ivoire are one country", "", "", {"CI"}, set()),
    ("Czech Republic, or Czechia, joins the pact", "", "", {"CZ"}, set()),
    ("East Timor joins ASEAN", "", "", {"TL"}, set()),
    ("Cape Verde and Cabo Verde", "", "", {"CV"}, set()),
    ("Macedonia name row resurfaces", "", "", {"MK"}, set()),
    ("Emirati carrier orders jets", "", "", {"AE"}, set()),
    ("Filipino fishermen protest", "", "", {"PH"}, set()),
    ("Kremlin rejects ceasefire plan", "", "", {"RU"}, set()),
    ("Downing Street denies reshuffle", "", "", {"GB"}, set()),
    ("White House defends tariffs", "", "", {"US"}, set()),
    ("Élysée confirms state visit", "", "", {"FR"}, set()),
    ("Israeli strike hits Gaza", "", "", {"IL", "PS"}, set()),
    ("Settlers attack village near Ramallah", "", "", {"PS"}, {"IL"}),
    ("Drone strikes hit Crimea", "", "", {"UA"}, {"RU"}),
    ("Fighting displaces thousands in Darfur", "", "", {"SD"}, set()),
]


@pytest.mark.parametrize(("title", "summary", "content", "yes", "no"), CASES)
def test_country_cases(title: str, summary: str, content: str, yes: set[str], no: set[str]):
    got = countries(title, summary, content)
    assert yes <= got, f"missing {yes - got} in {got}"
    assert not (no & got), f"unexpected {no & got} in {got}"


def test_passing_mention_in_long_text_is_not_a_tag():
    body = " ".join(
        [
            "Kenyan officials said on Monday that the new rail line would open next year.",
            "The Kenyan transport ministry expects freight to double within five years.",
            "Engineers said the route would cut travel times between the port and Nairobi.",
            "A similar line was built in Ethiopia a decade ago.",
            "Kenya's president is due to inspect the works in the coming weeks.",
        ]
    )
    got = countries("Rail line to open next year", "Officials in Nairobi gave the date.", body)
    assert got == {"KE"}


def test_origin_label_is_weak():
    got = countries(
        "Emirati carrier orders 40 jets",
        "The airline will replace older planes.",
        "The order includes engines from a U.S. engine maker. The airline said deliveries start "
        "in 2029.",
    )
    assert got == {"AE"}


def test_outlet_country_is_a_prior_not_a_tag():
    no_mention = tag_article("Scientists map the deep sea floor", outlet_country="GB")
    assert no_mention.countries == ()


def test_evidence_keeps_the_matched_phrases():
    result = tag_article("Iraqi lawmakers pass budget", "Parliament in Baghdad voted.", "")
    country_tags = {t.value: t for t in result.tags if t.kind == "country"}
    assert {"Iraqi", "Baghdad"} <= set(country_tags["IQ"].evidence)
    assert country_tags["IQ"].score > 0


def test_article_with_no_country():
    result = tag_article(
        "Astronomers detect water vapour on a distant exoplanet",
        "The telescope measured the planet's atmosphere for the first time.",
        "Researchers said the result would guide future observations of small rocky planets.",
    )
    assert result.countries == ()
    assert result.regions == ()
    assert "science-technology" in result.topics


def test_spanish_article():
    result = tag_article(
        "El primer ministro iraquí visita Irán para reforzar la cooperación",
        "Los dos gobiernos discutieron la cooperación económica y la seguridad regional.",
        "El primer ministro iraquí llegó a Teherán el miércoles. Irán y el Irak firmaron "
        "acuerdos de cooperación. Las conversaciones diplomáticas continuarán en Bagdad.",
    )
    assert set(result.countries) == {"IQ", "IR"}
    assert "diplomacy" in result.topics


def test_arabic_article():
    result = tag_article(
        "رئيس الوزراء العراقي يزور إيران",
        "بحث الجانبان التعاون الاقتصادي والأمن الإقليمي.",
        "وصل رئيس الوزراء العراقي إلى طهران يوم الأربعاء. وقال الرئيس الإيراني إن العراق شريك "
        "مهم لإيران.",
    )
    assert set(result.countries) == {"IQ", "IR"}


def test_french_demonyms_any_case():
    result = tag_article(
        "Le gouvernement malien annonce un dialogue national",
        "Les autorités maliennes ont réuni les partis à Bamako.",
    )
    assert "ML" in result.countries
