"""The model catalog: the one place that answers, for every caller (chat, titles, pages,
the future API), "which models may this user use" and "how do I reach this model".

Admins configure providers and models in the database (catalog.models). The environment
(chatgpt-web's OPENAI_API_KEY / OPENAI_API_BASE_URL / OPENAI_API_MODEL / TIMEOUT_MS) is
the default provider, named "environment": its models are everyone's, so a fresh install
needs no admin step. A model in the database with the same name as an environment model
replaces it (that is how an admin restricts, tunes or disables one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.translation import gettext as _

from catalog import crypto, snapshot
from catalog.models import ChatModel, Provider, ProxyMode
from modelclient.providers import NOT_CONFIGURED_MESSAGE, ProviderConfig
from modelclient.proxies import ProxyURL

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

ENV_PROVIDER = "environment"


class ModelUnavailable(Exception):
    """A model this user may not use, or that cannot be reached; code as in docs/protocol.md."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ModelChoice:
    """A model as the picker shows it."""

    name: str
    label: str
    provider: str
    context_window: int
    # The site's default model, as the admin chose it (SiteSettings.default_model).
    is_default: bool = False
    # It reads images: attached images are sent to it as OpenAI image_url parts (#21);
    # the composer refuses images for the rest before sending.
    accepts_images: bool = False


@dataclass(frozen=True)
class ResolvedModel:
    """Everything needed to call a model: where, with which key, and within which limits."""

    name: str
    label: str
    model_id: str
    provider: str
    config: ProviderConfig
    context_window: int
    # Tokens kept free for the answer; sent as max_tokens when positive.
    max_output_tokens: int
    temperature: float | None
    # The model id on the same provider that writes conversation titles, and the name
    # its usage is recorded under (its catalog name if it has one, else the id).
    title_model_id: str
    title_model_name: str
    # It reads images (ChatModel.accepts_images, or OPENAI_API_IMAGE_MODELS).
    accepts_images: bool = False

    @property
    def input_budget(self) -> int:
        """Tokens the prompt (system prompt + history) may take."""
        return max(0, self.context_window - self.max_output_tokens)


def env_configured() -> bool:
    return bool(settings.OPENAI_API_BASE_URL)


def is_configured(choices: list[ModelChoice] | None = None) -> bool:
    """Some model can be reached: the environment's, or an enabled one in the admin
    (among `choices`, the models_for() of a user, when given)."""
    if env_configured():
        return True
    if choices is not None:
        return any(choice.provider != ENV_PROVIDER for choice in choices)
    return bool(snapshot.get().usable())


def _env_names(*, shadowed: set[str], admin_models: bool) -> list[str]:
    """The environment's model names not replaced by an admin model of the same name.

    With no environment provider they are still offered on an install that has no
    usable admin models either, so the first answer can say exactly what to configure
    (not_configured) rather than "no model"."""
    if not env_configured() and admin_models:
        return []
    return [name for name in settings.OPENAI_API_MODELS if name not in shadowed]


def _admin_names(catalog: snapshot.Snapshot) -> tuple[set[str], bool]:
    """Every admin model's name (they shadow the environment's), and whether any is usable."""
    return set(catalog.by_name), bool(catalog.usable())


def _choices(catalog: snapshot.Snapshot, rows: list[ChatModel]) -> list[ModelChoice]:
    """`rows` (admin models) then the environment's models (the site default not moved)."""
    shadowed, admin_models = _admin_names(catalog)
    chosen = catalog.default_model
    choices = [
        ModelChoice(
            m.name, m.label, m.provider.name, m.context_window, m.name == chosen, m.accepts_images
        )
        for m in rows
    ]
    images = settings.OPENAI_API_IMAGE_MODELS
    budget = settings.CONTEXT_TOKEN_BUDGET
    choices += [
        ModelChoice(name, name, ENV_PROVIDER, budget, name == chosen, name in images)
        for name in _env_names(shadowed=shadowed, admin_models=admin_models)
    ]
    return choices


def _default_first(choices: list[ModelChoice]) -> list[ModelChoice]:
    return sorted(choices, key=lambda choice: not choice.is_default)  # stable: the rest as is


def models_for(user: AbstractBaseUser | AnonymousUser) -> list[ModelChoice]:
    """The models this user may pick, in the picker's order: the site default first (when
    the user may use it), then the admin's models in their order, then the `.env` models."""
    if not user.is_authenticated:
        return []
    catalog = snapshot.get()
    groups = snapshot.group_ids(user, catalog)
    user_id = int(user.pk) if user.pk is not None else None
    rows = [m for m in catalog.usable() if catalog.granted(m, user_id, groups)]
    return _default_first(_choices(catalog, rows))


def _fallback(choices: list[ModelChoice]) -> str:
    """The default when the site default cannot be used: the first `.env` model, else the
    first model (`choices` in the catalog's order, as _choices() makes them)."""
    env = next((c for c in choices if c.provider == ENV_PROVIDER), None)
    if env is not None:
        return env.name
    return choices[0].name if choices else ""


def default_for(
    user: AbstractBaseUser | AnonymousUser,
    preferred: str = "",
    *,
    choices: list[ModelChoice] | None = None,
) -> str:
    """The model name a conversation of this user uses: `preferred` if still allowed, else
    the site default the admin chose (SiteSettings.default_model) if the user may use it,
    else the first `.env` model, else the first the user may use ("" if none). So adding or
    removing a provider never moves anyone's default by itself: only the admin's choice
    does. `choices`: models_for(user) when the caller already has it."""
    choices = models_for(user) if choices is None else choices
    if any(choice.name == preferred for choice in choices):
        return preferred
    chosen = next((c for c in choices if c.is_default), None)
    return chosen.name if chosen is not None else _fallback(choices)


@dataclass(frozen=True)
class SiteDefault:
    """The site's default model as the admin page shows it."""

    # What the admin chose ("": none), and whether it can be used now (enabled, and its
    # provider too): a chosen model that is gone or disabled stays chosen, unused.
    chosen: str
    chosen_usable: bool
    # The model a user who may use every model starts new conversations with, and the one
    # used when no model is chosen or the chosen one cannot be used.
    used: str
    fallback: str
    fallback_from_env: bool
    # Every model the admin may choose: enabled admin models and the `.env` ones.
    choices: list[ModelChoice]


def site_default() -> SiteDefault:
    catalog = snapshot.get()
    choices = _choices(catalog, catalog.usable())
    chosen = catalog.default_model
    usable = bool(chosen) and any(choice.name == chosen for choice in choices)
    fallback = _fallback(choices)  # in the catalog's order: the site default not first
    return SiteDefault(
        chosen=chosen,
        chosen_usable=usable,
        used=chosen if usable else fallback,
        fallback=fallback,
        fallback_from_env=any(c.name == fallback and c.provider == ENV_PROVIDER for c in choices),
        choices=_default_first(choices),
    )


def fallback_notice(preferred: str, used: str, choices: list[ModelChoice]) -> str:
    """The sentence that tells a user their saved default model `preferred` is no longer
    theirs to use and which one is used instead ("" when it still is, or none is saved):
    a default never changes silently. `used`: what default_for() chose."""
    if not preferred or any(choice.name == preferred for choice in choices):
        return ""
    label = next((choice.label for choice in choices if choice.name == used), used)
    if not label:
        return _("Your default model %(saved)s is no longer available.") % {"saved": preferred}
    return _("Your default model %(saved)s is no longer available; using %(used)s.") % {
        "saved": preferred,
        "used": label,
    }


def check_allowed(user: AbstractBaseUser | AnonymousUser, name: object) -> str:
    """The model name if this user may use it; else ModelUnavailable("unknown_model")."""
    names = [choice.name for choice in models_for(user)]
    if isinstance(name, str) and name in names:
        return name
    if not names:
        raise ModelUnavailable(
            "no_model", _("No model is available to you. Ask the administrator for access.")
        )
    raise ModelUnavailable(
        "unknown_model", _("Unknown model. Choose one of: %(names)s.") % {"names": ", ".join(names)}
    )


def _env_config() -> ProviderConfig:
    base_url = settings.OPENAI_API_BASE_URL
    return ProviderConfig(
        base_url=base_url,
        api_key=settings.OPENAI_API_KEY,
        timeout_s=settings.TIMEOUT_MS / 1000,
        proxy=settings.UPSTREAM_PROXIES.for_url(base_url),
    )


def provider_proxy(provider: Provider) -> ProxyURL | None:
    """The proxy requests to `provider` go through: its own (NO_PROXY does not apply to
    it: the admin chose it for this server), none, or the environment's for its base URL
    (NO_PROXY applies). Its credentials are decrypted here, nowhere else."""
    if provider.proxy_mode == ProxyMode.DIRECT:
        return None
    if provider.proxy_mode != ProxyMode.URL:
        environment: ProxyURL | None = settings.UPSTREAM_PROXIES.for_url(provider.base_url)
        return environment
    try:
        proxy = provider.proxy()
    except crypto.UndecryptableKey as exc:
        raise ModelUnavailable(
            "provider_key_unreadable",
            _(
                "The proxy credentials stored for %(provider)s cannot be decrypted "
                "(SECRET_KEY or PROVIDER_KEY_SECRET changed). Enter them again in the admin."
            )
            % {"provider": provider.name},
        ) from exc
    if proxy is None:  # the mode without a URL: never straight past the proxy
        raise ModelUnavailable(
            "upstream_proxy",
            _("The provider %(provider)s is set to use a proxy but has no proxy URL.")
            % {"provider": provider.name},
        )
    return proxy


def provider_config(provider: Provider) -> ProviderConfig:
    """How to reach an admin-configured provider (its key decrypted here, nowhere else)."""
    try:
        api_key = provider.api_key()
    except crypto.UndecryptableKey as exc:
        raise ModelUnavailable("provider_key_unreadable", str(exc)) from exc
    return ProviderConfig(
        base_url=provider.base_url,
        api_key=api_key,
        timeout_s=provider.timeout_seconds,
        headers=tuple(sorted((str(k), str(v)) for k, v in provider.extra_headers.items())),
        proxy=provider_proxy(provider),
    )


def _title_name(row: ChatModel, catalog: snapshot.Snapshot) -> str:
    title_id = row.provider.title_model
    if not title_id or title_id == row.model_id:
        return row.name
    same_provider = (m for m in catalog.models if m.provider_id == row.provider_id)
    return next((m.name for m in same_provider if m.model_id == title_id), title_id)


def resolve(name: str) -> ResolvedModel:
    """How to reach the model `name` (already checked against the user when it was chosen).

    Raises ModelUnavailable("model_unavailable") if it was removed or disabled since.
    An admin model is resolved once per catalog version (its key decrypted once).
    """
    catalog = snapshot.get()
    row = catalog.by_name.get(name)
    if row is None:
        return _resolve_env(name, catalog)
    if not (row.enabled and row.provider.enabled):
        raise ModelUnavailable(
            "model_unavailable",
            _("The model %(label)s is disabled. Choose another model.") % {"label": row.label},
        )
    key = ("resolved", name)
    if key not in catalog.memo:
        catalog.memo[key] = ResolvedModel(
            name=row.name,
            label=row.label,
            model_id=row.model_id,
            provider=row.provider.name,
            config=provider_config(row.provider),
            context_window=row.context_window,
            max_output_tokens=row.max_output_tokens,
            temperature=row.default_temperature,
            title_model_id=row.provider.title_model or row.model_id,
            title_model_name=_title_name(row, catalog),
            accepts_images=row.accepts_images,
        )
    resolved: ResolvedModel = catalog.memo[key]
    return resolved


def _resolve_env(name: str, catalog: snapshot.Snapshot) -> ResolvedModel:
    if name in _env_names(shadowed=set(), admin_models=bool(catalog.usable())):
        if not env_configured():
            raise ModelUnavailable("not_configured", NOT_CONFIGURED_MESSAGE)
        return ResolvedModel(
            name=name,
            label=name,
            model_id=name,
            provider=ENV_PROVIDER,
            config=_env_config(),
            context_window=settings.CONTEXT_TOKEN_BUDGET,
            max_output_tokens=0,
            temperature=None,
            title_model_id=name,
            title_model_name=name,
            accepts_images=name in settings.OPENAI_API_IMAGE_MODELS,
        )
    if not is_configured():
        raise ModelUnavailable("not_configured", NOT_CONFIGURED_MESSAGE)
    raise ModelUnavailable(
        "model_unavailable",
        _("The model %(name)s is no longer available. Choose another model.")
        % {"name": repr(name)},
    )


def input_budget(name: str) -> int:
    """Tokens the prompt of model `name` may take, even when it cannot be reached now
    (the environment's models: CONTEXT_TOKEN_BUDGET; an unknown model: 0)."""
    try:
        return resolve(name).input_budget
    except ModelUnavailable:
        return settings.CONTEXT_TOKEN_BUDGET if name in settings.OPENAI_API_MODELS else 0


def accepts_images(name: str) -> bool:
    """Whether the model `name` reads images: an admin model's flag (enabled or not), an
    environment model's listing in OPENAI_API_IMAGE_MODELS; False for an unknown name."""
    row = snapshot.get().by_name.get(name)
    if row is not None:
        return bool(row.accepts_images)
    return name in settings.OPENAI_API_IMAGE_MODELS
