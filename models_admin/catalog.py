"""Read-side queries of the catalog (what the UI and API list)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models_admin.interfaces import InterfaceSpec, all_interfaces
from models_admin.models import Asset


@dataclass
class AssetRow:
    asset: Asset
    cells: list[object]  # one per interface column; None shows as "—"


@dataclass
class AssetGroup:
    interface: InterfaceSpec
    assets: list[Asset] = field(default_factory=list)

    @property
    def rows(self) -> list[AssetRow]:
        keys = [c.key for c in self.interface.columns]
        return [AssetRow(a, [a.metadata.get(k) for k in keys]) for a in self.assets]


def grouped_assets() -> list[AssetGroup]:
    """Assets grouped by interface in registry order; an asset with two interfaces is in both.

    The LLM and embedding groups always show (even empty); other groups only with assets.
    """
    groups = [AssetGroup(spec) for spec in all_interfaces()]
    by_name = {g.interface.name: g for g in groups}
    for asset in Asset.objects.order_by("asset_id"):
        for name in asset.interfaces:
            if name in by_name:
                by_name[name].assets.append(asset)
    return [g for g in groups if g.assets or g.interface.order < 2]
