"""Model providers: what the gateway, the reviewer and `doctor` ask of the provider behind a model string.

Why a protocol: "is this the embedded model?" used to be asked wherever the answer mattered (the preflight, the
warm-up, the live call's options, the context window, token counting, the reviewer's prompt cut, `doctor`). Now a
model's provider (the part of `provider/name` before the slash) is looked up in `PROVIDERS`, a `Registry` of kind
`provider` (entry points `scientist.provider`); a provider it does not name is a hosted one that litellm routes
(`HOSTED`). The embedded model's provider is `scientist.llm.local_model:EMBEDDED`, loaded only when a `local/...` model
is named. A plugin provider is an object with the `Provider` attributes; it is called through litellm like any
other (register its litellm custom handler in `warm_up`/`check` if it needs one).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

from scientist.config import DEFAULT_MODEL, Settings
from scientist.errors import ConfigError, MissingAPIKeyError, UnknownModelError
from scientist.llm.local_model import PROVIDER as LOCAL
from scientist.llm.profiles import ModelProfile
from scientist.registry import Registry


class Provider(Protocol):
    """A model provider as the gateway sees it. `context_window` is None when the window is not known before a call
    (a hosted model: its overflow error is caught after the call); then `count_tokens` is never called."""

    min_answer_tokens: int  # below this many tokens left for the answer, a prompt is too long for the window
    pings: bool  # whether `doctor --model` makes a live test call (not for a model that runs in-process)

    def check(self, model: str, settings: Settings) -> None:
        """Raise a ScientistError with the fix when `model` cannot be called (unknown, no key, no weights)."""

    def describe(self, model: str, settings: Settings) -> str:
        """`doctor`'s line for a model that passed `check`."""

    def warm_up(self, model: str, settings: Settings) -> None:
        """Load what the first call would (an in-process model's weights)."""

    def call_options(self, settings: Settings) -> dict[str, Any]:
        """Extra keyword arguments of a live call (never part of the recorded request: replays do not change)."""

    def context_window(self, settings: Settings) -> int | None:
        """The model's window in tokens when known before a call, else None."""

    def count_tokens(self, model: str, text: str, settings: Settings) -> int:
        """Tokens `text` takes in `model` (only asked when `context_window` is known)."""


@runtime_checkable
class SuppliesProfile(Protocol):
    """A provider that fixes its models' profiles (window, prices, structured-output mode), as the embedded one does.
    Optional, so a plugin provider written without it keeps working: its profile comes from litellm's model info."""

    def profile(self, model: str, settings: Settings) -> ModelProfile | None:
        """The model's profile, or None to learn it from litellm's model info (`scientist.llm.profiles.resolve`)."""


def import_litellm() -> Any:
    """litellm, configured for the gateway (quiet, unknown params dropped) with the embedded provider registered.

    The import goes through `local_model`, the module the import contract lets own litellm with the gateway."""
    from scientist.llm import local_model

    litellm = local_model.import_litellm()
    litellm.suppress_debug_info = True
    litellm.drop_params = True
    local_model.register()
    return litellm


class HostedProvider:
    """Any provider litellm knows (openai, anthropic, ollama, a llama.cpp server...): checked through litellm's
    provider table and its list of environment keys; its window is learnt from its errors, not counted before."""

    min_answer_tokens = 0
    pings = True

    def check(self, model: str, settings: Settings) -> None:
        litellm = import_litellm()
        try:
            litellm.get_llm_provider(model)
        except Exception as err:
            raise UnknownModelError(
                f"unknown model or provider {model!r}",
                hint="use provider/name as litellm knows it (openai/..., anthropic/..., ollama/...) or"
                " local/smollm2-135m",
            ) from err
        if settings.api_key is not None:
            return
        missing = litellm.validate_environment(model=model, api_base=settings.api_base).get("missing_keys", [])
        secret_like = [name for name in missing if re.search(r"KEY|TOKEN|SECRET", name)]
        if secret_like:
            raise MissingAPIKeyError(
                f"model {model!r} needs {', '.join(secret_like)}, which is not set",
                hint=f"export {secret_like[0]}=... or pass --model {DEFAULT_MODEL}",
            )

    def describe(self, model: str, settings: Settings) -> str:
        return f"{model}: provider known, key present"

    def warm_up(self, model: str, settings: Settings) -> None:
        return None

    def call_options(self, settings: Settings) -> dict[str, Any]:
        return {}

    def context_window(self, settings: Settings) -> int | None:
        return None

    def profile(self, model: str, settings: Settings) -> ModelProfile | None:
        return None

    def count_tokens(self, model: str, text: str, settings: Settings) -> int:
        raise ConfigError(
            f"{model}'s tokenizer is not known before a call",
            hint="count tokens only for a provider whose context_window is known (see scientist.llm.providers)",
        )


HOSTED = HostedProvider()
PROVIDERS: Registry[Provider] = Registry("provider", what="model provider")
PROVIDERS.add(LOCAL, "scientist.llm.local_model:EMBEDDED")  # loaded when a local/... model is named


def provider_name(model: str) -> str:
    """The provider part of `provider/name` (litellm's convention)."""
    return model.split("/", 1)[0]


def provider_for(model: str) -> Provider:
    """The registered provider of `model` (the project's or a plugin's), else the hosted one litellm routes."""
    name = provider_name(model)
    return PROVIDERS.get(name) if name in PROVIDERS else HOSTED


def supplied_profile(model: str, settings: Settings) -> ModelProfile | None:
    """The profile `model`'s provider fixes (the embedded model's), or None: the gateway asks litellm."""
    provider = provider_for(model)
    return provider.profile(model, settings) if isinstance(provider, SuppliesProfile) else None
