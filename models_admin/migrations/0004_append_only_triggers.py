"""Enforced in PostgreSQL, not only in Python: audit rows are append-only and final revisions
(approved, rejected) never change.

TRUNCATE fires neither trigger, so test-database flushes still work.
"""

from django.db import migrations

AUDIT_SQL = """
CREATE FUNCTION hub_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER models_admin_auditentry_append_only
    BEFORE UPDATE OR DELETE ON models_admin_auditentry
    FOR EACH ROW EXECUTE FUNCTION hub_audit_append_only();
"""
AUDIT_REVERSE = """
DROP TRIGGER models_admin_auditentry_append_only ON models_admin_auditentry;
DROP FUNCTION hub_audit_append_only();
"""

REVISION_SQL = """
CREATE FUNCTION hub_revision_final_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('approved', 'rejected') AND NEW IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'revision % of asset % is %: final revisions cannot change',
            OLD.number, OLD.asset_id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER models_admin_assetrevision_final_immutable
    BEFORE UPDATE ON models_admin_assetrevision
    FOR EACH ROW EXECUTE FUNCTION hub_revision_final_immutable();
"""
REVISION_REVERSE = """
DROP TRIGGER models_admin_assetrevision_final_immutable ON models_admin_assetrevision;
DROP FUNCTION hub_revision_final_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("models_admin", "0003_roles_and_revision_backfill")]

    operations = [
        migrations.RunSQL(AUDIT_SQL, AUDIT_REVERSE),
        migrations.RunSQL(REVISION_SQL, REVISION_REVERSE),
    ]
