from core.texts.catalog import Catalog, Rendered, RenderedButton, RenderedLink

__all__ = ["Catalog", "Rendered", "RenderedButton", "RenderedLink"]
