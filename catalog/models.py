"""What admins configure (providers, models, quotas) and what every request costs (usage).

Callers never read these tables directly to decide anything: catalog.config answers
"which models may this user use" and "how do I reach this model", catalog.quotas
answers "may this user start an answer now".
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog import clock, crypto
from catalog.usage_models import Quota as Quota
from catalog.usage_models import UsageDay as UsageDay
from catalog.usage_models import UsageDayDone as UsageDayDone
from catalog.usage_models import UsageRecord as UsageRecord
from modelclient.baseurl import normalize_base_url
from modelclient.proxies import ProxyURL, ProxyURLError, parse_proxy_url

HEADER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
# Headers the client sets itself; an extra header may not replace them.
RESERVED_HEADERS = {"authorization", "content-type", "content-length", "host", "accept"}


def validate_base_url(value: str) -> None:
    try:
        normalize_base_url(value)
    except ValueError as exc:
        raise ValidationError(
            _("The base URL %(problem)s"), params={"problem": exc}, code="invalid"
        ) from exc
    if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
        raise ValidationError(_("Put credentials in the API key field, not in the URL."))


def validate_headers(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_('Extra headers must be a JSON object, e.g. {"X-Org": "team"}.'))
    for name, header_value in value.items():
        if not name or not set(name) <= HEADER_NAME_CHARS:
            raise ValidationError(
                _("%(name)s is not a valid header name."), params={"name": repr(name)}
            )
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(
                _("%(name)s is set by Chatweb itself; use the API key field."),
                params={"name": name},
            )
        if not isinstance(header_value, str) or "\n" in header_value or "\r" in header_value:
            raise ValidationError(
                _("The value of %(name)s must be one line of text."), params={"name": name}
            )


def validate_proxy_url(value: str) -> None:
    """A proxy URL (credentials allowed: Provider.set_proxy stores them apart)."""
    try:
        parse_proxy_url(value)
    except ProxyURLError as exc:
        raise ValidationError(
            _("The proxy URL %(problem)s"), params={"problem": exc}, code="invalid"
        ) from exc


def validate_bare_proxy_url(value: str) -> None:
    """The stored proxy URL: without credentials (those are encrypted apart)."""
    validate_proxy_url(value)
    if parse_proxy_url(value).has_credentials:
        raise ValidationError(_("The proxy's credentials are stored encrypted, not in this field."))


class ProxyMode(models.TextChoices):
    ENVIRONMENT = "env", _("The server's setting")
    DIRECT = "none", _("None (connect directly)")
    URL = "url", _("This proxy")


class Provider(models.Model):
    """An OpenAI-compatible server: OpenAI, Ollama, vLLM, llama.cpp, LM Studio, ..."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        validators=[validate_base_url],
        help_text=_(
            "For example https://api.openai.com/v1 or http://localhost:11434/v1 "
            "(a bare host gets /v1)."
        ),
    )
    # Fernet token (catalog.crypto); the plain key is never stored nor shown.
    api_key_encrypted = models.TextField(_("API key (encrypted)"), blank=True, editable=False)
    extra_headers = models.JSONField(
        _("extra headers"),
        default=dict,
        blank=True,
        validators=[validate_headers],
        help_text=_('Sent with every request, e.g. {"OpenAI-Organization": "org-..."}.'),
    )
    timeout_seconds = models.FloatField(
        _("timeout (seconds)"),
        default=100.0,
        help_text=_("How long the model may stay silent before the answer fails."),
    )
    proxy_mode = models.CharField(
        _("proxy"),
        max_length=8,
        choices=ProxyMode.choices,
        default=ProxyMode.ENVIRONMENT,
        help_text=_(
            "The server's setting: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (or "
            "SOCKS_PROXY_*) in its environment; empty there means none."
        ),
    )
    # The proxy's URL without credentials (shown in the admin); they are kept encrypted
    # apart (catalog.crypto), like the API key: never stored in clear nor shown.
    proxy_url = models.CharField(
        _("proxy URL"), max_length=500, blank=True, validators=[validate_bare_proxy_url]
    )
    proxy_auth_encrypted = models.TextField(
        _("proxy credentials (encrypted)"), blank=True, editable=False
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    title_model = models.CharField(
        _("title model"),
        max_length=200,
        blank=True,
        help_text=_(
            "A cheaper model id on this provider for conversation titles "
            "(empty: the conversation's own model)."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=clock.now)
    # The last "Test connection" (catalog.probe): when, whether it worked, and if not a
    # code of realtime/codes.py plus the server's words (scrubbed of the key).
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    check_ok = models.BooleanField(_("last check worked"), default=False, editable=False)
    check_code = models.CharField(
        _("last check's error code"), max_length=40, blank=True, editable=False
    )
    check_detail = models.CharField(
        _("last check's detail"), max_length=300, blank=True, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("provider")
        verbose_name_plural = _("providers")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.timeout_seconds is not None and not 0 < self.timeout_seconds <= 3600:
            raise ValidationError({"timeout_seconds": _("Between 0 and 3600 seconds.")})
        if self.base_url:
            # A bad URL is the field validator's to report.
            with contextlib.suppress(ValueError):
                self.base_url = normalize_base_url(self.base_url)

    def set_api_key(self, plain: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plain)

    def api_key(self) -> str:
        """The plain key (raises crypto.UndecryptableKey if the secret changed)."""
        return crypto.decrypt(self.api_key_encrypted)

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    def set_proxy(self, raw: str) -> None:
        """Use the proxy `raw` (a URL, credentials allowed; "" for the environment's).
        Raises ProxyURLError. Credentials typed in the URL replace the stored ones; a URL
        without any keeps them only if it names the same proxy (scheme, host and port),
        so a proxy's credentials never go to another host."""
        if not raw.strip():
            self.proxy_mode, self.proxy_url, self.proxy_auth_encrypted = (
                ProxyMode.ENVIRONMENT,
                "",
                "",
            )
            return
        parsed = parse_proxy_url(raw)
        bare = parsed.without_credentials().url
        if parsed.has_credentials:
            self.proxy_auth_encrypted = crypto.encrypt(
                parsed.url.split("://", 1)[1].rsplit("@", 1)[0]
            )
        elif bare != self.proxy_url:
            self.proxy_auth_encrypted = ""
        self.proxy_mode, self.proxy_url = ProxyMode.URL, bare

    def clear_proxy_credentials(self) -> None:
        self.proxy_auth_encrypted = ""

    @property
    def has_proxy_credentials(self) -> bool:
        return bool(self.proxy_auth_encrypted)

    def proxy(self) -> ProxyURL | None:
        """This provider's own proxy, credentials included (None unless mode URL).
        Raises crypto.UndecryptableKey if the secret changed."""
        if self.proxy_mode != ProxyMode.URL or not self.proxy_url:
            return None
        url = self.proxy_url
        if self.proxy_auth_encrypted:
            scheme, rest = url.split("://", 1)
            url = f"{scheme}://{crypto.decrypt(self.proxy_auth_encrypted)}@{rest}"
        return parse_proxy_url(url)

    @property
    def proxy_display(self) -> str:
        """The proxy for pages: its mode, or its URL with `***@` for credentials."""
        if self.proxy_mode == ProxyMode.URL and self.proxy_url:
            scheme, rest = self.proxy_url.split("://", 1)
            return f"{scheme}://***@{rest}" if self.proxy_auth_encrypted else self.proxy_url
        return str(ProxyMode(self.proxy_mode).label)

    def record_check(self, *, ok: bool, code: str, detail: str) -> None:
        """Store a connection check's result. An update, not save(): a check changes
        nothing about routing, so it must not drop every process's catalog snapshot."""
        self.checked_at = clock.now()
        self.check_ok, self.check_code, self.check_detail = ok, code, detail[:300]
        Provider.objects.filter(pk=self.pk).update(
            checked_at=self.checked_at,
            check_ok=ok,
            check_code=self.check_code,
            check_detail=self.check_detail,
        )


class ChatModelQuerySet(models.QuerySet["ChatModel"]):
    def usable(self) -> ChatModelQuerySet:
        return self.filter(enabled=True, provider__enabled=True)


class ChatModel(models.Model):
    """A model users may pick. `name` is what conversations and frames refer to."""

    provider = models.ForeignKey(
        Provider, on_delete=models.CASCADE, related_name="models", verbose_name=_("provider")
    )
    model_id = models.CharField(
        _("model ID"), max_length=200, help_text=_("The id the provider knows it by.")
    )
    name = models.CharField(
        _("name"),
        max_length=200,
        unique=True,
        help_text=_(
            "Unique across providers; what users pick and conversations store "
            "(usually the model id)."
        ),
    )
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    context_window = models.PositiveIntegerField(
        _("context window"),
        default=8192,
        help_text=_("Tokens the model reads: the prompt plus the answer."),
    )
    max_output_tokens = models.PositiveIntegerField(
        _("output budget"),
        default=1024,
        help_text=_(
            "Tokens kept free for the answer (sent as max_tokens; 0: not sent, nothing reserved)."
        ),
    )
    default_temperature = models.FloatField(
        _("default temperature"),
        null=True,
        blank=True,
        help_text=_("Empty: the provider's default."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    accepts_images = models.BooleanField(
        _("accepts images"),
        default=False,
        help_text=_(
            "The model reads images (a vision model): attached images are sent to it. "
            "Test connection sets it when the provider says so."
        ),
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="chat_models",
        verbose_name=_("groups"),
        help_text=_("Empty, with no users: everyone."),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="chat_models",
        verbose_name=_("users"),
        help_text=_("Empty, with no groups: everyone."),
    )
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Order in the model picker.")
    )
    # Prices per million tokens in the site's CURRENCY (catalog.costs); empty: unpriced,
    # and its ledger rows have no cost. A change applies to rows recorded after it.
    input_price = models.DecimalField(
        _("input price"),
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Per million prompt tokens, in the site's currency. Empty: unpriced."),
    )
    output_price = models.DecimalField(
        _("output price"),
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Per million answer tokens, in the site's currency. Empty: unpriced."),
    )

    objects = ChatModelQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("model")
        verbose_name_plural = _("models")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_id"], name="one_model_id_per_provider"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def clean(self) -> None:
        if not self.name and self.model_id:
            self.name = self.model_id
        if self.context_window is not None and self.max_output_tokens is not None:
            if self.context_window < 256:
                raise ValidationError({"context_window": _("At least 256 tokens.")})
            if self.max_output_tokens >= self.context_window:
                raise ValidationError(
                    {"max_output_tokens": _("Must be smaller than the context window.")}
                )
        if self.default_temperature is not None and not 0 <= self.default_temperature <= 2:
            raise ValidationError({"default_temperature": _("Between 0 and 2.")})


class SiteSettings(models.Model):
    """The site's own choices, one row (pk 1): the model new conversations start with.

    `default_model` is a model's name, an admin model's or one of OPENAI_API_MODEL's (which
    has no row to point at), so a name and not a foreign key. Removing or disabling the
    model leaves the choice as it was: catalog.config falls back to the first `.env` model
    while it cannot be used, and the admin page says so.
    """

    ONLY = 1

    default_model = models.CharField(
        _("default model"),
        max_length=200,
        blank=True,
        help_text=_(
            "New conversations start with it, unless the user chose another default. "
            "None chosen, or the chosen one disabled, removed or not open to a user: the "
            "first model of OPENAI_API_MODEL. Adding or removing a provider never changes it."
        ),
    )

    class Meta:
        verbose_name = _("site settings")
        verbose_name_plural = _("site settings")
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="site_settings_one_row"),
        ]

    def __str__(self) -> str:
        return str(_("Site settings"))

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = self.ONLY  # the one row, whoever made this instance
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> SiteSettings:
        """The row, or an unsaved one with the defaults (reading never writes)."""
        return cls.objects.filter(pk=cls.ONLY).first() or cls(pk=cls.ONLY)
