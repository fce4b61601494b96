"""The one configuration tree and its sections: the dependency-free base every side imports.

`tree.py` composes the sections; each section module (edge, sources, detect, enhance, attributes,
tracking, analytics, pipeline, models, sync, cloud, dashboard) is plain pydantic with no import of
edge, cloud or dashboard code, so a cloud process can load the whole tree without OpenCV.
"""

from storelens.config.tree import (
    StorelensConfig,
    config_search_order,
    format_errors,
    load_config,
    locate_config,
    parse_config,
)

__all__ = ["StorelensConfig", "config_search_order", "format_errors", "load_config", "locate_config", "parse_config"]
