"""Tests of the Python bindings (standard library unittest):

    ZAYA_LIBRARY=build/capi/libzaya.so.1 PYTHONPATH=bindings/python python3 -m unittest discover -s bindings/python/tests

ctest runs them as `python_bindings`. The model is the tiny golden test model with the tiny chat
tokenizer (tests/data/tiny-chat).
"""
import array
import math
import json
import os
import struct
import subprocess
import threading
import time
import unittest

import zaya

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
MODEL = os.environ.get("ZAYA_TEST_MODEL", os.path.join(ROOT, "tests", "data", "checkpoints", "tiny-a", "native-f32"))
TOKENIZER = os.environ.get("ZAYA_TEST_TOKENIZER", os.path.join(ROOT, "tests", "data", "tiny-chat"))


def read_safetensors_int32(path, name):
    """A stdlib-only safetensors reader for one int32 tensor."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        info = header[name]
        assert info["dtype"] == "I32"
        begin, end = info["data_offsets"]
        f.seek(8 + n + begin)
        data = f.read(end - begin)
    return list(struct.unpack("<%di" % (len(data) // 4), data))


GOLDEN = os.path.join(MODEL, "golden.safetensors")


def load_model(**kwargs):
    kwargs.setdefault("backend", "cpu")
    kwargs.setdefault("tokenizer", TOKENIZER)
    return zaya.Model.load(MODEL, **kwargs)


class LibraryTest(unittest.TestCase):
    def test_versions_and_backends(self):
        self.assertRegex(zaya.version(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(zaya.abi_version(), 1)
        names = [name for name, _ in zaya.backends()]
        self.assertIn("cpu", names)

    @unittest.skipUnless(os.environ.get("ZAYA_LAYOUT_EXE"), "ZAYA_LAYOUT_EXE not set")
    def test_struct_layout_matches_the_c_compiler(self):
        out = subprocess.run([os.environ["ZAYA_LAYOUT_EXE"]], check=True, capture_output=True, text=True).stdout
        layout = dict(line.rsplit(" ", 1) for line in out.splitlines())
        from zaya import _ffi
        self.assertEqual(set(_ffi.STRUCTS), {k for k in layout if "." not in k})
        for cname, cls in _ffi.STRUCTS.items():
            self.assertEqual(int(layout[cname]), __import__("ctypes").sizeof(cls), cname)
            fields = [k.split(".", 1)[1] for k in layout if k.startswith(cname + ".")]
            self.assertEqual(fields, [f[0] for f in cls._fields_], cname)
            for field, _ in cls._fields_:
                self.assertEqual(int(layout[cname + "." + field]), getattr(cls, field).offset, cname + "." + field)

    def test_parse_chat_output(self):
        parsed = zaya.parse_chat_output("<think>\nhmm\n</think>\n\nHello!")
        self.assertEqual(parsed["reasoning"], "hmm")
        self.assertEqual(parsed["content"], "Hello!")
        self.assertTrue(parsed["reasoning_finished"])

    def test_log_callback(self):
        lines = []
        zaya.set_log_callback(lambda level, msg: lines.append((level, msg)), level="debug")
        try:
            with load_model():
                pass
            with self.assertRaises(zaya.ZayaIOError):
                zaya.Model.load("/nonexistent/zaya-log-test")
        finally:
            zaya.set_log_callback(None)
        self.assertTrue(any(level == "info" and "loaded model" in msg for level, msg in lines), lines)
        self.assertTrue(any(level == "debug" and "zaya-log-test" in msg for level, msg in lines), lines)


class ModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = load_model()

    @classmethod
    def tearDownClass(cls):
        cls.model.close()

    def test_errors_carry_the_c_message(self):
        with self.assertRaises(zaya.ZayaIOError) as cm:
            zaya.Model.load("/nonexistent/zaya-model")
        self.assertIsInstance(cm.exception, OSError)
        self.assertIn("/nonexistent/zaya-model", str(cm.exception))
        self.assertEqual(cm.exception.status, 2)
        with self.assertRaises(zaya.InvalidArgument) as cm:
            zaya.Model.load(MODEL, backend="warp-drive")
        self.assertIsInstance(cm.exception, ValueError)
        self.assertIn("warp-drive", cm.exception.message)
        with self.assertRaises(TypeError):
            self.model.generate("Hi", temprature=0.5)  # misspelt sampling parameter
        with self.assertRaises(zaya.InvalidArgument):
            self.model.generate("Hi", top_p=0.0)

    def test_info(self):
        info = self.model.info
        self.assertEqual(info.vocab_size, 384)
        self.assertEqual(info.layers, 3)
        self.assertTrue(info.has_tokenizer)
        self.assertTrue(info.has_chat_template)
        self.assertEqual(info.stored_dtypes, "F32")
        self.assertIn("native-f32", info.directory)

    def test_progress_and_cancelled_load(self):
        seen = []
        with load_model(progress=lambda f: seen.append(f)) as m:
            self.assertEqual(m.info.layers, 3)
        self.assertGreaterEqual(len(seen), 2)
        self.assertAlmostEqual(seen[-1], 1.0)
        self.assertEqual(seen, sorted(seen))
        with self.assertRaises(zaya.Cancelled):
            load_model(progress=lambda f: False)

        class Boom(Exception):
            pass

        def explode(_):
            raise Boom()
        with self.assertRaises(Boom):  # a Python exception in a callback comes back out
            load_model(progress=explode)

    def test_tokenizer(self):
        tok = self.model.tokenizer
        self.assertIsNotNone(tok)
        text = "Hello world! The dragon said hello. üñï €"
        ids = tok.encode(text)
        self.assertEqual(tok.decode(ids), text)
        self.assertEqual(tok.encode(text, add_special_tokens=True), [2] + ids)
        self.assertEqual(tok.vocab_size, 384)
        self.assertEqual(tok.token_to_id("<|im_end|>"), 5)
        self.assertIsNone(tok.token_to_id("nope nope"))
        self.assertEqual(tok.id_to_token(6), "<think>")
        self.assertTrue(tok.is_special(4))
        self.assertEqual((tok.bos_id, tok.eos_id, tok.pad_id, tok.unk_id), (2, 5, 0, 3))
        with self.assertRaises(zaya.OutOfRange):
            tok.decode([1000])
        with self.assertRaises(zaya.InvalidArgument):
            tok.encode(b"\xff\xfe")
        detok = tok.detokenizer()
        streamed = "".join(detok.push(i) for i in ids) + detok.finish()
        self.assertEqual(streamed, text)
        detok.close()

    def test_chat_template(self):
        tok = self.model.tokenizer
        prompt = tok.apply_chat_template([{"role": "user", "content": "Hi!"}])
        self.assertEqual(prompt, "<bos><|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")
        thinking = tok.apply_chat_template([{"role": "user", "content": "Hi!"}], enable_thinking=True)
        self.assertTrue(thinking.endswith("<|im_start|>assistant\n<think>\n"))
        with self.assertRaises(zaya.TemplateError) as cm:
            zaya.ChatTemplate.parse("{{ raise_exception('nope') }}").render([])
        self.assertIn("nope", str(cm.exception))

    def test_generate_streams_text_pieces(self):
        gen = self.model.generate("Hello world", max_tokens=16, seed=3, stop_at_eos=False)
        pieces = list(gen)
        self.assertTrue(all(isinstance(p, str) and p for p in pieces))
        self.assertEqual("".join(pieces), gen.text)
        self.assertEqual(gen.finish_reason, "max_tokens")
        self.assertEqual(len(gen.tokens), 16)
        self.assertTrue(gen.closed)  # its private context was freed at the end
        again = self.model.generate("Hello world", max_tokens=16, seed=3, stop_at_eos=False)
        self.assertEqual(again.read(), gen.text)
        self.assertEqual(again.tokens, gen.tokens)
        other = self.model.generate("Hello world", max_tokens=16, seed=4, stop_at_eos=False)
        other.read()
        self.assertNotEqual(other.tokens, gen.tokens)

    def test_greedy_ids_reproduce_the_golden_continuation(self):
        prompt = read_safetensors_int32(GOLDEN, "input_ids")
        expected = read_safetensors_int32(GOLDEN, "greedy_ids")
        gen = self.model.generate(prompt, max_tokens=len(expected), greedy=True, stop_at_eos=False)
        gen.read()
        self.assertEqual(gen.tokens, expected)

    def test_stop_strings_and_stop_tokens(self):
        full = self.model.generate("Hello", max_tokens=24, seed=5, stop_at_eos=False)
        text = full.read()
        ascii_pairs = [i for i in range(len(text) // 2, len(text) - 1) if text[i:i + 2].isascii()]
        if ascii_pairs:
            stop = text[ascii_pairs[0]:ascii_pairs[0] + 2]
            cut = self.model.generate("Hello", max_tokens=24, seed=5, stop_at_eos=False, stop=[stop])
            self.assertEqual(cut.read(), text[:text.find(stop)])
            self.assertEqual(cut.finish_reason, "stop_string")
        stop_id = full.tokens[3]
        stopped = self.model.generate("Hello", max_tokens=24, seed=5, stop_at_eos=False, stop_tokens=[stop_id])
        stopped.read()
        self.assertEqual(stopped.finish_reason, "stop_token")
        self.assertEqual(stopped.tokens, full.tokens[:full.tokens.index(stop_id) + 1])

    def test_chat(self):
        messages = [{"role": "user", "content": "Tell me a story"}]
        reply = self.model.chat(messages, max_tokens=20, seed=1)
        self.assertIsInstance(reply, zaya.ChatResponse)
        self.assertIn(reply.finish_reason, ("max_tokens", "stop_token"))
        self.assertIsInstance(reply.content, str)
        self.assertLessEqual(len(reply.tokens), 20)
        streamed = "".join(self.model.chat(messages, max_tokens=20, seed=1, stream=True))
        self.assertEqual(streamed, reply.text)

    def test_context_operations_and_state(self):
        with self.model.context(max_sequences=3, max_context=64, threads=1) as ctx:
            self.assertEqual(ctx.limits["max_sequences"], 3)
            prompt = read_safetensors_int32(GOLDEN, "input_ids")
            logits = ctx.prefill(0, prompt)
            self.assertIsInstance(logits, array.array)
            self.assertEqual(len(logits), 384)
            state = ctx.save_state(0)
            self.assertIsInstance(state, bytes)
            ctx.decode([(0, 42, True)])
            expected = ctx.logits(0)
            ctx.load_state(2, state)
            self.assertEqual(ctx.length(2), len(prompt))
            ctx.decode([(2, 42, True)])
            self.assertEqual(ctx.logits(0), expected)
            ctx.fork(0, 1)
            self.assertEqual(ctx.length(1), len(prompt) + 1)
            ctx.truncate(1, len(prompt))
            ctx.clear(0)
            self.assertEqual(ctx.length(0), 0)
            with self.assertRaises(zaya.OutOfRange):
                ctx.decode([(7, 1, True)])
            with self.assertRaises(zaya.BadFormat):
                ctx.load_state(0, state[:-3])
            with self.assertRaises(zaya.LimitExceeded):
                ctx.prefill(0, [3] * 100)
        self.assertTrue(ctx.closed)
        with self.assertRaises(zaya.InvalidArgument):
            ctx.length(0)

    def test_f16_kv_cache(self):
        prompt = read_safetensors_int32(GOLDEN, "input_ids")
        with self.model.context(max_context=64, threads=1) as exact, \
                self.model.context(max_context=64, threads=1, kv_cache="f16") as half:
            a, b = exact.prefill(0, prompt), half.prefill(0, prompt)
            diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
            norm = math.sqrt(sum(x * x for x in a))
            self.assertGreater(diff, 0.0)  # the cache really holds halves
            self.assertLess(diff / norm, 5e-3)
        with self.assertRaises(ValueError):
            self.model.context(kv_cache="bf16")

    def test_head_shortlist(self):
        prompt = read_safetensors_int32(GOLDEN, "input_ids")

        def last_logits(k):
            model = load_model(head_shortlist=k)
            with model.context(max_context=64, threads=1) as ctx:
                return list(ctx.prefill(0, prompt))

        exact, everything, four = last_logits(0), last_logits(10**6), last_logits(4)
        self.assertEqual(everything, exact)  # clamped to the vocabulary: every logit rescored
        same = sum(a == b for a, b in zip(exact, four))
        self.assertGreaterEqual(same, 4)
        self.assertLess(same, len(exact))
        with self.assertRaises(zaya.InvalidArgument):
            load_model(head_shortlist=-1)
        info = load_model(head_shortlist=4).info
        self.assertEqual(info.head_shortlist_bytes, info.vocab_size * info.hidden_size // 32 * 18)  # Q4_0 copy
        self.assertEqual(self.model.info.head_shortlist_bytes, 0)

    def test_batch_generation_and_callbacks(self):
        with self.model.context(max_sequences=2, max_context=128, threads=1) as ctx:
            events = []

            def on_token(index, token, text, finish):
                events.append((index, token, finish))
                return not (index == 1 and sum(1 for e in events if e[0] == 1) >= 3)  # stop request 1 early

            out = ctx.generate_batch([
                {"prompt": "Hello", "sequence": 0, "max_tokens": 8, "seed": 1, "stop_at_eos": False},
                {"prompt": "Tell me", "sequence": 1, "max_tokens": 8, "seed": 2, "stop_at_eos": False},
            ], on_token=on_token)
            self.assertEqual(out[0]["finish_reason"], "max_tokens")
            self.assertEqual(len(out[0]["tokens"]), 8)
            self.assertEqual(out[1]["finish_reason"], "cancelled")
            self.assertEqual(len(out[1]["tokens"]), 3)
            solo = self.model.generate("Hello", max_tokens=8, seed=1, stop_at_eos=False)
            solo.read()
            self.assertEqual(solo.tokens, out[0]["tokens"])

    def test_cancel_from_another_thread(self):
        gen = self.model.generate("Once upon a time", max_tokens=4000, seed=1, stop_at_eos=False)
        started = threading.Event()

        def canceller():
            started.wait(30)
            gen.cancel()
        t = threading.Thread(target=canceller)
        t.start()
        deadline = time.time() + 60
        for _ in gen:
            started.set()  # the other thread cancels while we keep iterating
            self.assertLess(time.time(), deadline)
        t.join()
        self.assertEqual(gen.finish_reason, "cancelled")
        self.assertGreater(len(gen.tokens), 0)
        self.assertLess(len(gen.tokens), 4000)

    def test_model_shared_by_threads(self):
        expected = self.model.generate("The dragon", max_tokens=12, seed=8, stop_at_eos=False)
        expected.read()
        results = [None] * 3
        errors = []

        def work(i):
            try:
                g = self.model.generate("The dragon", max_tokens=12, seed=8, stop_at_eos=False, threads=1)
                g.read()
                results[i] = g.tokens
            except Exception as e:  # surfaced below
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(results, [expected.tokens] * 3)

    def test_sampler(self):
        logits = [0.0] * 384
        logits[17] = 5.0
        with zaya.Sampler(greedy=True) as s:
            self.assertEqual(s.sample(logits), 17)
        with zaya.Sampler(seed=3, logit_bias={17: float("-inf")}) as s:
            self.assertNotEqual(s.sample(logits), 17)
        with self.assertRaises(zaya.InvalidArgument):
            zaya.Sampler(top_p=0)

    def test_rsa(self):
        with self.model.rsa(preset="light", n=3, c=2, t=1, beta=6, tau=4, seed=5, threads=1,
                            progress_every=2) as run:
            events = []
            result = run.run("What is 2+2?", progress=events.append, include_text=True)
            self.assertEqual(result["stopped_by"], "done")
            self.assertEqual(len(result["stages"]), 2)
            self.assertEqual(len(result["stages"][1]["candidates"]), 3)
            self.assertEqual(events[0]["kind"], "stage_started")
            self.assertEqual(run.answer, result["answer"])
            again = run.run("What is 2+2?", include_text=True)
            self.assertEqual([c["text"] for c in again["stages"][1]["candidates"]],
                             [c["text"] for c in result["stages"][1]["candidates"]])
            stopped = run.run("What is 2+2?", progress=lambda e: False)
            self.assertEqual(stopped["stopped_by"], "cancel")
            with self.assertRaises(zaya.InvalidArgument):
                run.set("warp_factor", 9)
            run.set("c", 7)
            with self.assertRaises(zaya.InvalidArgument):
                run.run("What is 2+2?")


if __name__ == "__main__":
    unittest.main()
