"""Article tagging: countries (ISO 3166-1 alpha-2), UN M49 regions, topics.

Public API::

    from ingest.tagging import tag_article, tag_result_to_json
    result = tag_article(title, summary, content, categories=("World",), outlet_country="GB")
    result.countries, result.regions, result.topics   # sorted tuples
    tag_result_to_json(result)   # {"countries", "regions", "topics", "evidence", "scores"}

    region_names()                     # every name a subscriber may follow
    countries_for_region("Sahel")      # frozenset of codes (UnknownRegionError if unknown)
    regions_for_country("IR")          # ("Southern Asia", "Middle East")

Weights live in :mod:`ingest.tagging.rules`; data tables and their sources in ``data/``.
"""

from .errors import TaggingDataError, TaggingError, UnknownRegionError
from .lexicon import TOPICS
from .regions import countries_for_region, region_names, regions_for_country
from .rules import CountryWeights, TagRules, TopicWeights
from .tagger import Tag, TagResult, tag_article, tag_result_to_json

__all__ = [
    "TOPICS",
    "CountryWeights",
    "Tag",
    "TagResult",
    "TagRules",
    "TaggingDataError",
    "TaggingError",
    "TopicWeights",
    "UnknownRegionError",
    "countries_for_region",
    "region_names",
    "regions_for_country",
    "tag_article",
    "tag_result_to_json",
]
