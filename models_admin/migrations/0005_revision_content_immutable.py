"""A submitted revision's content never changes, in PostgreSQL too.

Withdrawing a revision now ends it (``withdrawn``, final); the next edit is a new revision.
The trigger of migration 0004 is widened: besides refusing any UPDATE of a final row
(approved, rejected, withdrawn), it refuses changing what a submitted row says (document,
asset, number, authorship, submission), and any status move but submitted → a final one.
"""

from django.db import migrations, models

REVISION_SQL = """
CREATE OR REPLACE FUNCTION hub_revision_final_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('approved', 'rejected', 'withdrawn') AND NEW IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'revision % of asset % is %: final revisions cannot change',
            OLD.number, OLD.asset_id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'submitted' AND (
        NEW.document IS DISTINCT FROM OLD.document
        OR NEW.asset_id IS DISTINCT FROM OLD.asset_id
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.author_id IS DISTINCT FROM OLD.author_id
        OR NEW.contributors IS DISTINCT FROM OLD.contributors
        OR NEW.submitted_by_id IS DISTINCT FROM OLD.submitted_by_id
        OR NEW.submitted_at IS DISTINCT FROM OLD.submitted_at
        OR NEW.status NOT IN ('submitted', 'approved', 'rejected', 'withdrawn')
    ) THEN
        RAISE EXCEPTION 'revision % of asset % is submitted: its content cannot change',
            OLD.number, OLD.asset_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
"""
# Migration 0004's function, as it was.
REVISION_REVERSE = """
CREATE OR REPLACE FUNCTION hub_revision_final_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('approved', 'rejected') AND NEW IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'revision % of asset % is %: final revisions cannot change',
            OLD.number, OLD.asset_id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("models_admin", "0004_append_only_triggers")]

    operations = [
        migrations.AlterField(
            model_name="assetrevision",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("submitted", "Submitted"),
                    ("approved", "Approved"),
                    ("rejected", "Rejected"),
                    ("withdrawn", "Withdrawn"),
                ],
                default="draft",
                max_length=16,
            ),
        ),
        migrations.RunSQL(REVISION_SQL, REVISION_REVERSE),
    ]
