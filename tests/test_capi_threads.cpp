// The C ABI's threading contract, exercised with real threads (and run under ThreadSanitizer by
// scripts/test-tsan.sh):
//   * one model shared by contexts on many threads gives the same results as one thread;
//   * one tokenizer shared by many threads;
//   * cancel from another thread stops generation, a running decode (state unchanged) and
//     pull-style streams, and never leaks into the next call;
//   * a context used from two threads at once answers ZAYA_ERR_BUSY instead of racing;
//   * the last error is per thread; the log callback can be swapped while threads log;
//   * a model freed while other threads still use contexts over it stays alive for them;
//   * an RSA run on a worker thread is cancelled from the main thread and still gives a result.
#include "capi/capi_test_support.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

using namespace capi_test;

namespace {

std::vector<int32_t> generate_ids(zaya_model* model, const std::string& prompt, uint64_t seed, int64_t max_tokens) {
  auto ctx = make_context(model, 1, 256, 1);
  const zaya_sampling_params s = seeded(seed);
  zaya_request r = zaya_request_default();
  r.prompt_text = prompt.data();
  r.prompt_text_length = prompt.size();
  r.max_tokens = max_tokens;
  r.sampling = &s;
  r.stop_at_eos = 0;
  Collected got;
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &got, nullptr));
  return got.tokens[0];
}

// Results of worker threads are collected and checked on the main thread (doctest's assertion
// macros are not meant to be called concurrently).
struct Failures {
  std::mutex mutex;
  std::vector<std::string> messages;
  void add(std::string m) {
    std::lock_guard lock(mutex);
    messages.push_back(std::move(m));
  }
};

}  // namespace

TEST_CASE("one model, many contexts on many threads: same results as one thread") {
  zaya_model* model = tiny_model();
  const std::vector<std::string> prompts = {"Hello world", "The dragon", "What is the weather?", "Once upon a time"};
  std::vector<std::vector<int32_t>> expected;
  for (size_t i = 0; i < prompts.size(); ++i) expected.push_back(generate_ids(model, prompts[i], 100 + i, 24));

  std::vector<std::vector<int32_t>> got(prompts.size());
  std::vector<zaya_status> status(prompts.size(), ZAYA_OK);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 2; ++round) {  // two rounds: contexts created and freed concurrently
        zaya_context_params p = zaya_context_params_default();
        p.max_context = 256;
        p.threads = 1;
        zaya_context* ctx = nullptr;
        if ((status[i] = zaya_context_new(model, &p, &ctx)) != ZAYA_OK) return;
        const zaya_sampling_params s = seeded(100 + i);
        zaya_request r = zaya_request_default();
        r.prompt_text = prompts[i].data();
        r.prompt_text_length = prompts[i].size();
        r.max_tokens = 24;
        r.sampling = &s;
        r.stop_at_eos = 0;
        std::vector<int32_t> ids;
        auto cb = [](const zaya_token_event* e, void* user) -> int32_t {
          if (e->token >= 0) static_cast<std::vector<int32_t>*>(user)->push_back(e->token);
          return ZAYA_CONTINUE;
        };
        status[i] = zaya_generate(ctx, &r, 1, cb, &ids, nullptr);
        zaya_context_free(ctx);
        if (status[i] != ZAYA_OK) return;
        got[i] = ids;
        if (got[i] != expected[i]) return;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(status[i] == ZAYA_OK);
    CHECK(got[i] == expected[i]);
  }
}

TEST_CASE("a context with several worker threads gives the same tokens as with one") {
  const auto one = generate_ids(tiny_model(), "Tell me a story", 9, 16);
  auto ctx = make_context(tiny_model(), 1, 256, 2);
  const zaya_sampling_params s = seeded(9);
  zaya_request r = zaya_request_default();
  r.prompt_text = "Tell me a story";
  r.prompt_text_length = 15;
  r.max_tokens = 16;
  r.sampling = &s;
  r.stop_at_eos = 0;
  Collected got;
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, &Collected::callback, &got, nullptr));
  CHECK(got.tokens[0] == one);
}

TEST_CASE("one tokenizer shared by many threads") {
  auto tok = model_tokenizer(tiny_model());
  const std::string text = "Hello world! The knight rode to the mountain. \xe2\x82\xac";
  const auto expected = tokenize(tok.get(), text);
  Failures failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::vector<int32_t> ids(256);
        size_t n = 0;
        if (zaya_tokenize(tok.get(), text.data(), text.size(), 0, ids.data(), ids.size(), &n) != ZAYA_OK) {
          failures.add(zaya_last_error());
          return;
        }
        ids.resize(n);
        if (ids != expected) failures.add("different ids");
        char out[256];
        size_t len = 0;
        if (zaya_detokenize(tok.get(), ids.data(), ids.size(), 0, out, sizeof out, &len) != ZAYA_OK ||
            std::string(out, len) != text)
          failures.add("round trip");
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.messages.empty());
}

TEST_CASE("cancel from another thread stops a long generation; the next one is unaffected") {
  auto ctx = make_context(tiny_model(), 1, 4096, 1);
  struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    int tokens = 0;
  } shared;
  auto cb = [](const zaya_token_event* e, void* user) -> int32_t {
    auto* s = static_cast<Shared*>(user);
    if (e->token >= 0) {
      std::lock_guard lock(s->mutex);
      ++s->tokens;
      s->cv.notify_all();
    }
    return ZAYA_CONTINUE;
  };
  const std::vector<int32_t> prompt = {2, 300, 301, 302};
  zaya_request r = token_request(0, prompt, 4000);
  zaya_result res = zaya_result_default();
  zaya_status status = ZAYA_ERR_INTERNAL;
  std::thread worker([&] { status = zaya_generate(ctx.get(), &r, 1, cb, &shared, &res); });
  {
    std::unique_lock lock(shared.mutex);
    shared.cv.wait(lock, [&] { return shared.tokens >= 5; });
  }
  zaya_context_cancel(ctx.get());
  worker.join();
  CHECK(status == ZAYA_OK);
  CHECK(res.finish == ZAYA_FINISH_CANCELLED);
  CHECK(res.generated_tokens >= 5);
  CHECK(res.generated_tokens < 4000);
  const int64_t len = length(ctx.get(), 0);
  CHECK(len >= static_cast<int64_t>(prompt.size()) + 4);
  CHECK(len < static_cast<int64_t>(prompt.size()) + 4000);

  // The next generation runs to its end.
  ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
  r.max_tokens = 20;
  ZREQUIRE_OK(zaya_generate(ctx.get(), &r, 1, nullptr, nullptr, &res));
  CHECK(res.finish == ZAYA_FINISH_MAX_TOKENS);
}

TEST_CASE("cancel racing with decodes: each decode completes or changes nothing; no stale cancel") {
  auto ctx = make_context(tiny_model(), 1, 4096, 1);
  std::vector<zaya_batch_token> big;
  for (int i = 0; i < 1024; ++i) big.push_back({0, 3 + i % 300, i == 1023});
  const zaya_batch_token one[] = {{0, 7, 1}};
  // How long one uncancelled decode takes here (sanitizers slow everything down): cancels land
  // uniformly over 1.5 times that, so some decodes finish and some are cut.
  const auto t0 = std::chrono::steady_clock::now();
  ZREQUIRE_OK(zaya_decode(ctx.get(), big.data(), big.size()));
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::mt19937 rng(1234);
  int completed = 0, cancelled = 0;
  for (int round = 0; round < 12; ++round) {
    ZREQUIRE_OK(zaya_sequence_clear(ctx.get(), 0));
    const int delay_us = std::uniform_int_distribution<int>(0, static_cast<int>(took.count() * 3 / 2))(rng);
    std::atomic<bool> started{false};
    zaya_status status = ZAYA_ERR_INTERNAL;
    std::thread worker([&] {
      started = true;
      status = zaya_decode(ctx.get(), big.data(), big.size());
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    zaya_context_cancel(ctx.get());
    worker.join();
    const int64_t len = length(ctx.get(), 0);
    if (status == ZAYA_OK) {
      ++completed;
      CHECK(len == 1024);
    } else {
      ++cancelled;
      CHECK(status == ZAYA_ERR_CANCELLED);
      CHECK(len == 0);
    }
    // Whatever happened, the next call is not hit by that cancel.
    ZCHECK_STATUS(zaya_decode(ctx.get(), one, 1), ZAYA_OK);
  }
  MESSAGE("decodes completed: " << completed << ", cancelled: " << cancelled);
  CHECK(completed + cancelled == 12);
}

TEST_CASE("a context used from two threads at once answers BUSY instead of racing") {
  auto ctx = make_context(tiny_model(), 2, 4096, 1);
  std::atomic<int> ok{0}, busy{0}, other{0}, decoded{0};
  std::atomic<bool> stop{false};
  auto count = [&](zaya_status s, bool is_decode) {
    if (s == ZAYA_OK) {
      ++ok;
      if (is_decode) ++decoded;
    } else if (s == ZAYA_ERR_BUSY) {
      ++busy;
    } else {
      ++other;
    }
  };
  std::thread decoder([&] {
    for (int i = 0; i < 200 && !stop; ++i) {
      const zaya_batch_token t[] = {{0, 3 + i % 200, 1}};
      count(zaya_decode(ctx.get(), t, 1), true);
    }
  });
  std::thread reader([&] {
    for (int i = 0; i < 2000; ++i) {
      int64_t n = 0;
      const zaya_batch_token t[] = {{1, 5, 0}};
      if (i % 2) count(zaya_sequence_length(ctx.get(), 0, &n), false);
      else count(zaya_decode(ctx.get(), t, 1), true);
      std::this_thread::yield();
    }
    stop = true;
  });
  decoder.join();
  reader.join();
  CHECK(other == 0);
  CHECK(ok > 0);
  MESSAGE("ok " << ok.load() << ", busy " << busy.load());
  // Every successful decode landed exactly once, every refused one not at all.
  CHECK(length(ctx.get(), 0) + length(ctx.get(), 1) == decoded.load());
}

TEST_CASE("game-loop pattern: a worker pulls a stream, the main thread polls and cancels") {
  auto ctx = make_context(tiny_model(), 1, 4096, 1);
  zaya_request r = zaya_request_default();
  r.prompt_text = "Tell me a story about a dragon";
  r.prompt_text_length = std::strlen(r.prompt_text);
  r.max_tokens = 3000;
  r.stop_at_eos = 0;
  zaya_stream* st = nullptr;
  ZREQUIRE_OK(zaya_stream_new(ctx.get(), &r, &st));
  Owned<zaya_stream> stream(st);

  std::mutex mutex;
  std::vector<int32_t> queue;  // tokens handed to the "frame loop"
  std::atomic<int32_t> finish{ZAYA_FINISH_NONE};
  std::atomic<zaya_status> status{ZAYA_OK};
  std::thread worker([&] {
    zaya_token_event ev;
    ev.struct_size = sizeof ev;
    for (;;) {
      const zaya_status s = zaya_stream_next(st, &ev);
      if (s != ZAYA_OK) {
        status = s;
        return;
      }
      if (ev.token >= 0) {
        std::lock_guard lock(mutex);
        queue.push_back(ev.token);
      }
      if (ev.finish != ZAYA_FINISH_NONE) {
        finish = ev.finish;
        return;
      }
    }
  });
  size_t seen = 0;
  int frames = 0;
  while (finish == ZAYA_FINISH_NONE && status == ZAYA_OK) {
    {
      std::unique_lock lock(mutex, std::try_to_lock);  // never block the frame
      if (lock.owns_lock()) seen = queue.size();
    }
    if (seen >= 10) zaya_context_cancel(ctx.get());
    ++frames;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  worker.join();
  CHECK(status == ZAYA_OK);
  CHECK(finish == ZAYA_FINISH_CANCELLED);
  CHECK(queue.size() >= 10);
  CHECK(queue.size() < 3000);
  CHECK(frames > 0);
}

TEST_CASE("the last error is per thread") {
  Failures failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string dir = "/nonexistent/zaya-thread-" + std::to_string(t);
      for (int i = 0; i < 100; ++i) {
        zaya_model* m = nullptr;
        if (zaya_model_load(dir.c_str(), nullptr, &m) != ZAYA_ERR_IO) failures.add("unexpected status");
        const std::string message = zaya_last_error();
        if (message.find(dir) == std::string::npos) failures.add("thread " + std::to_string(t) + " saw: " + message);
        size_t n = 0;
        if (zaya_tokenizer_vocab_size(nullptr, &n) != ZAYA_ERR_INVALID_ARGUMENT) failures.add("NULL accepted");
        if (std::string(zaya_last_error()).find("zaya_tokenizer") == std::string::npos) failures.add("message");
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.messages.empty());
  if (!failures.messages.empty()) MESSAGE(failures.messages.front());
}

TEST_CASE("the log callback can be swapped while other threads log") {
  std::atomic<int> calls{0};
  auto fn = [](int32_t, const char* message, void* user) {
    if (message && *message) static_cast<std::atomic<int>*>(user)->fetch_add(1);
  };
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        zaya_decode(nullptr, nullptr, 0);  // fails: logged at DEBUG when enabled
        std::this_thread::yield();
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    zaya_set_log_callback(fn, &calls, ZAYA_LOG_DEBUG);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    zaya_set_log_callback(nullptr, nullptr, ZAYA_LOG_NONE);
  }
  const int after_reset = calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(calls.load() > 0);
  CHECK(calls.load() == after_reset);  // once reset returned, the callback was never called again
}

TEST_CASE("a model freed while other threads use contexts over it stays alive for them") {
  zaya_model_params p = zaya_model_params_default();
  p.backend = "cpu";
  const std::string tok = tiny_tokenizer_dir();
  p.tokenizer_path = tok.c_str();
  zaya_model* model = nullptr;
  ZREQUIRE_OK(zaya_model_load(tiny_model_dir().c_str(), &p, &model));
  std::vector<Owned<zaya_context>> contexts;
  for (int i = 0; i < 3; ++i) contexts.push_back(make_context(model, 1, 128, 1));
  zaya_model_free(model);  // the contexts keep it alive

  std::vector<zaya_status> status(3, ZAYA_ERR_INTERNAL);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      zaya_request r = zaya_request_default();
      r.prompt_text = "Hello";
      r.prompt_text_length = 5;
      r.max_tokens = 16;
      r.stop_at_eos = 0;
      status[size_t(i)] = zaya_generate(contexts[size_t(i)].get(), &r, 1, nullptr, nullptr, nullptr);
    });
  }
  for (auto& t : threads) t.join();
  for (zaya_status s : status) CHECK(s == ZAYA_OK);
}

TEST_CASE("an RSA run on a worker thread, cancelled from the main thread") {
  zaya_rsa* r = nullptr;
  ZREQUIRE_OK(zaya_rsa_new(tiny_model(), "light", &r));
  Owned<zaya_rsa> run(r);
  const std::pair<const char*, const char*> options[] = {{"n", "2"},       {"c", "2"},       {"t", "4"},
                                                         {"beta", "3000"}, {"tau", "16"},    {"threads", "1"},
                                                         {"progress_every", "4"}};
  for (const auto& [name, value] : options) ZREQUIRE_OK(zaya_rsa_set(r, name, value));
  struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    int events = 0;
    static int32_t fn(const char*, size_t, void* user) {
      auto* s = static_cast<Shared*>(user);
      std::lock_guard lock(s->mutex);
      ++s->events;
      s->cv.notify_all();
      return ZAYA_CONTINUE;
    }
  } shared;
  zaya_status status = ZAYA_ERR_INTERNAL;
  std::thread worker([&] {
    const std::string q = "Tell me a long story.";
    status = zaya_rsa_run(r, q.data(), q.size(), nullptr, 0, &Shared::fn, &shared);
  });
  {
    std::unique_lock lock(shared.mutex);
    shared.cv.wait(lock, [&] { return shared.events >= 3; });
  }
  zaya_rsa_cancel(r);
  // While the worker is inside the run, the handle answers BUSY to other calls instead of racing.
  const char* answer = nullptr;
  const zaya_status busy = zaya_rsa_answer(r, &answer, nullptr);
  worker.join();
  CHECK((busy == ZAYA_ERR_BUSY || busy == ZAYA_OK));
  REQUIRE(status == ZAYA_OK);
  const char* json = nullptr;
  size_t len = 0;
  ZREQUIRE_OK(zaya_rsa_result_json(r, 0, &json, &len));
  CHECK(std::string(json, len).find("\"stopped_by\":\"cancel\"") != std::string::npos);
}
