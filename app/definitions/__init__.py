"""Survey definition files: parse and validate `surveys/*.toml` into frozen dataclasses.

`load_definition(path)` / `parse_definition(data, filename)` return a `SurveyDefinition` or raise
`DefinitionError` with every `Problem` (file, field, line, message). `definition_to_dict` and
`definition_from_dict` convert a definition to and from canonical JSON-able data.
"""

from app.definitions.model import (
    Anonymity,
    Category,
    DefinitionError,
    Item,
    ItemKind,
    Problem,
    QuestionKind,
    QuestionTemplate,
    Rules,
    Scale,
    ScaleKind,
    Scenario,
    StudyMeta,
    SurveyDefinition,
    Text,
)
from app.definitions.parser import load_definition, parse_definition
from app.definitions.serialize import definition_from_dict, definition_to_dict

__all__ = [
    "Anonymity",
    "Category",
    "DefinitionError",
    "Item",
    "ItemKind",
    "Problem",
    "QuestionKind",
    "QuestionTemplate",
    "Rules",
    "Scale",
    "ScaleKind",
    "Scenario",
    "StudyMeta",
    "SurveyDefinition",
    "Text",
    "definition_from_dict",
    "definition_to_dict",
    "load_definition",
    "parse_definition",
]
