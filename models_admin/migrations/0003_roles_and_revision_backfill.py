"""Role groups with their permissions, and revision 1 for assets saved before revisions existed."""

from typing import Any

from django.db import migrations

ROLES = ("viewer", "operator", "editor", "approver", "admin")
# Cumulative, like models_admin.roles.ROLE_ACTIONS (frozen here: migrations must not import app code).
CODENAMES = ("view_asset", "operate_asset", "edit_asset", "approve_asset", "administer_hub")
NAMES = {
    "view_asset": "Can view asset",
    "operate_asset": "Can wake, sleep and restart assets",
    "edit_asset": "Can create, edit and submit asset revisions",
    "approve_asset": "Can approve, reject revisions and retire assets",
    "administer_hub": "Can manage users, roles and API tokens",
}


def create_roles(apps: Any, schema_editor: Any) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="models_admin", model="asset")
    perms = {}
    for codename in CODENAMES:
        perms[codename], _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": NAMES[codename]}
        )
    for i, role in enumerate(ROLES):
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([perms[c] for c in CODENAMES[: i + 1]])


def remove_roles(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


def backfill_revisions(apps: Any, schema_editor: Any) -> None:
    """Before revisions, a saved document was live at once: it becomes approved revision 1."""
    Asset = apps.get_model("models_admin", "Asset")
    AssetRevision = apps.get_model("models_admin", "AssetRevision")
    for asset in Asset.objects.filter(revisions__isnull=True):
        approved = asset.live_spec is not None and asset.live_spec == asset.spec
        AssetRevision.objects.create(
            asset=asset,
            number=1,
            document=asset.spec,
            status="approved" if approved else "draft",
            comment="existing before revisions (migration 0003)",
            submitted_at=asset.updated_at if approved else None,
            decided_at=asset.updated_at if approved else None,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("models_admin", "0002_governance"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, remove_roles),
        migrations.RunPython(backfill_revisions, migrations.RunPython.noop),
    ]
