from django.apps import AppConfig


class ModelsAdminConfig(AppConfig):
    name = "models_admin"
    verbose_name = "Model catalog"

    def ready(self) -> None:
        # Models are loaded only now; every process that changes tokens, users or roles must
        # make cached token checks stale everywhere.
        from models_admin import credentials

        credentials.connect_signals()
