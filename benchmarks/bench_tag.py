"""Articles per second tagged on one core, for ~600-word synthetic multilingual articles.

    .venv/bin/python benchmarks/bench_tag.py [--articles N] [--seed S]

Prints one JSON line: {"bench": "tag", "articles": N, "words_per_article": .., "seconds": ..,
"articles_per_s": ..}. The articles are generated from a fixed vocabulary (English, Spanish,
French and Arabic sentences mixing country names, demonyms, cities and topic words), so the
figure measures the tagger, not I/O. The automaton is built before timing starts.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from ingest.tagging import tag_article

SENTENCES = [
    "The {dem} government said on {day} that talks with {country} would resume next week.",
    "Officials in {city} reported that prices rose for a third month as the central bank met.",
    "Rescuers searched for survivors after a landslide buried homes near {city}.",
    "The court in {city} convicted three activists, a verdict rights groups called unjust.",
    "Voters in {country} head to the polls in a referendum on the new constitution.",
    "Researchers published a study on artificial intelligence chips and quantum computing.",
    "Oil and gas exports from {country} fell as the pipeline remained shut.",
    "Migrants crossing from {country} were intercepted by the coast guard at sea.",
    "El gobierno de {country_es} anunció nuevas medidas económicas tras la inflación.",
    "Le président {dem_fr} a rencontré son homologue pour discuter de la sécurité régionale.",
    "وقال مسؤولون في بغداد إن الحكومة العراقية ستواصل المحادثات مع إيران.",
    "The festival drew record crowds to the museum and the film screenings.",
    "Troops and militia fighters clashed near the border overnight, the army said.",
    "Hospitals reported a rise in cholera cases and a shortage of vaccines.",
    "The team won the championship final in front of a sold-out stadium.",
]
# Connective sentences with no place or topic word, as real reporting has between its key
# sentences; mixed in so that the share of words that hit a pattern is close to real news
# (about 0.2 per word on the tagger's development set; printed as "hits_per_word").
FILLER = [
    "He told reporters that the details would be announced later in the week.",
    "The statement did not say how many people were involved.",
    "A spokesman declined to comment further when contacted on the phone.",
    "Local residents said they had not been told what would happen next.",
    "The figures were published on the website of the office on the same day.",
    "Some of those present said the meeting had lasted for more than three hours.",
    "It was not immediately clear when the next round would take place.",
    "Según el comunicado, los detalles se darán a conocer la próxima semana.",
    "Selon le communiqué, les détails seront annoncés dans les prochains jours.",
    "وقال المتحدث إن التفاصيل ستعلن في وقت لاحق من هذا الأسبوع.",
]
TOPICAL_SHARE = 0.5
FILL = {
    "dem": ["Iraqi", "Kenyan", "Brazilian", "Filipino", "Turkish", "Emirati", "Dutch"],
    "country": ["Iran", "Nigeria", "Mexico", "Georgia", "Niger", "South Sudan", "Colombia"],
    "city": ["Baghdad", "Lagos", "Tbilisi", "Manila", "Nairobi", "Bogotá", "Paris"],
    "day": ["Monday", "Tuesday", "Friday"],
    "country_es": ["Argentina", "México", "Perú", "Irak"],
    "dem_fr": ["iranien", "malien", "sénégalais", "irakien"],
}


def make_article(rng: random.Random, words: int = 600) -> tuple[str, str, str]:
    def sentence() -> str:
        s = rng.choice(SENTENCES)
        return s.format(**{k: rng.choice(v) for k, v in FILL.items()})

    body: list[str] = []
    count = 0
    while count < words:
        s = sentence() if rng.random() < TOPICAL_SHARE else rng.choice(FILLER)
        body.append(s)
        count += len(s.split())
    return sentence().rstrip("."), sentence(), " ".join(body)


def hits_per_word(articles: list[tuple[str, str, str]]) -> float:
    """How many place and topic patterns the articles hit per word (density check)."""
    from ingest.tagging.matcher import scan
    from ingest.tagging.rules import DEFAULT_RULES
    from ingest.tagging.tagger import _automaton

    automaton = _automaton(DEFAULT_RULES)
    hits = words = 0
    for article in articles:
        for text in article:
            found = scan(automaton, text)
            hits += len(found.places) + len(found.terms)
            words += len(text.split())
    return hits / words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    articles = [make_article(rng) for _ in range(args.articles)]
    tag_article(*articles[0])  # build the automaton and load the tables outside the timing
    # CPU time of this process: the figure for one core, steady on a busy machine
    start = time.process_time()
    for title, summary, content in articles:
        tag_article(title, summary, content)
    seconds = time.process_time() - start
    words = sum(len(a[2].split()) for a in articles) / len(articles)
    hits = hits_per_word(articles[:50])
    print(
        json.dumps(
            {
                "bench": "tag",
                "articles": len(articles),
                "words_per_article": round(words),
                "hits_per_word": round(hits, 3),
                "seconds": round(seconds, 3),
                "articles_per_s": round(len(articles) / seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
