//! Tests of the safe Rust API on the tiny test model with the tiny chat tokenizer:
//!     ZAYA_LIB_DIR=build/capi LD_LIBRARY_PATH=build/capi cargo test --offline
//! (ctest runs them as `rust_bindings`).
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread;

use zaya::{ContextOptions, ErrorKind, FinishReason, GenerateOptions, KvCacheType, Model, ModelOptions, Prompt, SamplingParams,
           TokenizerSource};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/data").join(rel)
}
fn model_dir() -> PathBuf {
    std::env::var_os("ZAYA_TEST_MODEL").map(PathBuf::from).unwrap_or_else(|| data("checkpoints/tiny-a/native-f32"))
}
fn tokenizer_dir() -> PathBuf {
    std::env::var_os("ZAYA_TEST_TOKENIZER").map(PathBuf::from).unwrap_or_else(|| data("tiny-chat"))
}

fn load() -> Model {
    Model::load_with(model_dir(), ModelOptions {
        backend: "cpu".into(),
        tokenizer: TokenizerSource::Path(tokenizer_dir()),
        ..Default::default()
    })
    .expect("load the tiny model")
}

fn options(max_tokens: i64, seed: u64) -> GenerateOptions {
    GenerateOptions {
        max_tokens,
        sampling: SamplingParams::seeded(seed),
        stop_at_eos: false,
        threads: 1,
        ..Default::default()
    }
}

#[test]
fn versions_and_backends() {
    assert_eq!(zaya::abi_version(), zaya::ABI_VERSION);
    assert!(!zaya::version().is_empty());
    assert!(zaya::backends().unwrap().iter().any(|(name, _)| name == "cpu"));
}

#[test]
fn errors_are_results_with_the_c_message() {
    let err = Model::load("/nonexistent/zaya-rust").err().expect("must fail");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("/nonexistent/zaya-rust"), "{err}");
    let err = Model::load_with(model_dir(), ModelOptions { backend: "warp".into(), ..Default::default() }).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let model = load();
    let mut bad = options(4, 1);
    bad.sampling.top_p = 0.0;
    let err = model.generate("Hi", &bad).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("top_p"), "{err}");
}

#[test]
fn progress_can_cancel_a_load() {
    let mut seen = Vec::new();
    let mut record = |f: f32| {
        seen.push(f);
        true
    };
    let model = Model::load_with(model_dir(), ModelOptions { progress: Some(&mut record), ..Default::default() }).unwrap();
    assert_eq!(model.info().unwrap().layers, 3);
    assert!(seen.len() >= 2 && *seen.last().unwrap() == 1.0);
    let mut stop = |_: f32| false;
    let err = Model::load_with(model_dir(), ModelOptions { progress: Some(&mut stop), ..Default::default() }).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn tokenizer_and_chat_template() {
    let model = load();
    let info = model.info().unwrap();
    assert_eq!(info.vocab_size, 384);
    assert!(info.has_tokenizer && info.has_chat_template);
    let tok = model.tokenizer().unwrap().expect("a tokenizer");
    let text = "Hello world! The dragon said hello. üñ €";
    let ids = tok.encode(text, false).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert_eq!(tok.encode(text, true).unwrap()[0], 2);
    assert_eq!(tok.vocab_size().unwrap(), 384);
    assert_eq!(tok.token_to_id("<|im_end|>").unwrap(), Some(5));
    assert_eq!(tok.bos_eos().unwrap(), (Some(2), Some(5)));
    assert_eq!(tok.decode(&[999], false).unwrap_err().kind(), ErrorKind::OutOfRange);
    let mut template = tok.chat_template().unwrap();
    let prompt = template.render(r#"[{"role":"user","content":"Hi!"}]"#, true, None).unwrap();
    assert_eq!(prompt, "<bos><|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");
    let thinking = template.render(r#"[{"role":"user","content":"Hi!"}]"#, true, Some(r#"{"enable_thinking":true}"#)).unwrap();
    assert!(thinking.ends_with("<think>\n"));
    assert_eq!(template.render("[", true, None).unwrap_err().kind(), ErrorKind::BadFormat);
    let json = zaya::parse_chat_output("<think>\nhm\n</think>\n\nYes.", false).unwrap();
    assert!(json.contains(r#""content":"Yes.""#), "{json}");
}

#[test]
fn streaming_generation_is_an_iterator_and_deterministic() {
    let model = load();
    let mut generation = model.generate("Hello world", &options(16, 3)).unwrap();
    let pieces: Vec<String> = generation.by_ref().collect::<zaya::Result<_>>().unwrap();
    assert!(pieces.iter().all(|p| !p.is_empty()));
    assert_eq!(pieces.concat(), generation.text());
    assert_eq!(generation.finish_reason(), Some(FinishReason::MaxTokens));
    assert_eq!(generation.tokens().len(), 16);
    assert_eq!(generation.next().map(|r| r.is_ok()), None); // stays finished

    let mut again = model.generate("Hello world", &options(16, 3)).unwrap();
    again.read_to_end().unwrap();
    assert_eq!(again.tokens(), generation.tokens());
    let mut other = model.generate("Hello world", &options(16, 4)).unwrap();
    other.read_to_end().unwrap();
    assert_ne!(other.tokens(), generation.tokens());
}

#[test]
fn greedy_token_prompt_and_stop_conditions() {
    let model = load();
    let prompt: Vec<i32> = vec![2, 300, 301, 302, 303];
    let mut greedy = GenerateOptions { max_tokens: 12, sampling: SamplingParams::greedy(), stop_at_eos: false, ..Default::default() };
    let mut full = model.generate(prompt.clone(), &greedy).unwrap();
    full.read_to_end().unwrap();
    let stop = full.tokens()[4];
    greedy.stop_tokens = vec![stop];
    let mut stopped = model.generate(prompt.as_slice(), &greedy).unwrap();
    stopped.read_to_end().unwrap();
    assert_eq!(stopped.finish_reason(), Some(FinishReason::StopToken));
    let first = full.tokens().iter().position(|&t| t == stop).unwrap();
    assert_eq!(stopped.tokens(), &full.tokens()[..=first]);
}

#[test]
fn f16_kv_cache() {
    let model = load();
    let prompt = [2, 300, 301, 302, 303, 304];
    let logits = |kv_cache_type| {
        let options = ContextOptions { max_context: 64, threads: 1, kv_cache_type, ..Default::default() };
        model.context(&options).unwrap().prefill(0, &prompt).unwrap().to_vec()
    };
    let (exact, half) = (logits(KvCacheType::F32), logits(KvCacheType::F16));
    assert_eq!(ContextOptions::default().kv_cache_type, KvCacheType::F32);
    let diff: f64 = exact.iter().zip(&half).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
    let norm: f64 = exact.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
    assert!(diff > 0.0, "the cache really holds halves");
    assert!(diff / norm < 5e-3, "relative difference {}", diff / norm);
}

#[test]
fn head_shortlist() {
    let prompt = [2, 300, 301, 302, 303, 304];
    let logits = |head_shortlist| {
        let model = Model::load_with(model_dir(), ModelOptions {
            backend: "cpu".into(),
            tokenizer: TokenizerSource::None,
            head_shortlist,
            ..Default::default()
        })
        .unwrap();
        let options = ContextOptions { max_context: 64, threads: 1, ..Default::default() };
        model.context(&options).unwrap().prefill(0, &prompt).unwrap().to_vec()
    };
    let (exact, all, four) = (logits(0), logits(384), logits(4));
    let shortlisted = Model::load_with(model_dir(), ModelOptions {
        backend: "cpu".into(),
        tokenizer: TokenizerSource::None,
        head_shortlist: 4,
        ..Default::default()
    })
    .unwrap();
    let info = shortlisted.info().unwrap();
    // The Q4_0 copy of a bf16 head: 18 bytes per 32 weights, reported apart from stored_bytes.
    assert_eq!(info.head_shortlist_bytes, info.vocab_size as u64 * info.hidden_size as u64 / 32 * 18);
    assert_eq!(exact, all, "a shortlist of the whole vocabulary is the full head");
    let same = exact.iter().zip(&four).filter(|(a, b)| a == b).count();
    assert!(same >= 4 && same < exact.len(), "{} of {} logits exact", same, exact.len());
}

#[test]
fn context_operations_and_state() {
    let model = load();
    let mut ctx = model.context(&ContextOptions { max_sequences: 3, max_context: 64, threads: 1, ..Default::default() }).unwrap();
    let prompt = [2, 300, 301, 302, 303, 304];
    assert_eq!(ctx.prefill(0, &prompt).unwrap().len(), 384);
    let state = ctx.save_state(0).unwrap();
    ctx.decode(&[zaya::BatchToken { sequence: 0, token: 42, logits: 1 }]).unwrap();
    let expected = ctx.logits(0).unwrap().to_vec();
    ctx.load_state(2, &state).unwrap();
    assert_eq!(ctx.length(2).unwrap(), prompt.len() as i64);
    ctx.decode(&[zaya::BatchToken { sequence: 2, token: 42, logits: 1 }]).unwrap();
    assert_eq!(ctx.logits(0).unwrap(), expected.as_slice());
    ctx.fork(0, 1).unwrap();
    ctx.truncate(1, prompt.len() as i64).unwrap();
    assert_eq!(ctx.length(1).unwrap(), prompt.len() as i64);
    ctx.clear(0).unwrap();
    assert_eq!(ctx.length(0).unwrap(), 0);
    assert_eq!(ctx.length(9).unwrap_err().kind(), ErrorKind::OutOfRange);
    assert_eq!(ctx.load_state(0, &state[..10]).unwrap_err().kind(), ErrorKind::BadFormat);

    // Generation on a chosen sequence of this context, then a batch with a stopping callback.
    let mut on_seq = GenerateOptions { sequence: 1, ..options(5, 1) };
    on_seq.add_special_tokens = false;
    let mut g = ctx.generate(Prompt::from("Hello"), &on_seq).unwrap();
    g.read_to_end().unwrap();
    assert_eq!(g.tokens().len(), 5);
    drop(g);
    ctx.clear(0).unwrap();
    ctx.clear(1).unwrap();
    let requests = vec![
        (Prompt::from("Hello"), GenerateOptions { sequence: 0, ..options(6, 1) }),
        (Prompt::from("Tell me"), GenerateOptions { sequence: 1, ..options(6, 2) }),
    ];
    let mut seen_1 = 0;
    let results = ctx
        .generate_batch(&requests, |e| {
            if e.request == 1 && e.token.is_some() {
                seen_1 += 1;
            }
            !(e.request == 1 && seen_1 >= 2)
        })
        .unwrap();
    assert_eq!(results[0].finish, Some(FinishReason::MaxTokens));
    assert_eq!(results[0].tokens.len(), 6);
    assert_eq!(results[1].finish, Some(FinishReason::Cancelled));
    assert_eq!(results[1].tokens.len(), 2);
}

#[test]
fn one_model_many_threads_and_cancel_from_another_thread() {
    let model = Arc::new(load());
    let mut reference = model.generate("The dragon", &options(10, 8)).unwrap();
    reference.read_to_end().unwrap();
    let expected = reference.tokens().to_vec();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let m = Arc::clone(&model);
            thread::spawn(move || {
                let mut g = m.generate("The dragon", &options(10, 8)).unwrap();
                g.read_to_end().unwrap();
                g.tokens().to_vec()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }

    // A generation moved to a worker thread, cancelled from this one once it is producing.
    let generation = model.generate("Once upon a time", &options(4000, 1)).unwrap();
    let cancel = generation.cancel_handle();
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let mut generation = generation;
        let mut sent = false;
        while let Some(piece) = generation.next() {
            piece.unwrap();
            if !sent {
                tx.send(()).unwrap();
                sent = true;
            }
        }
        (generation.finish_reason(), generation.tokens().len())
    });
    rx.recv().unwrap();
    cancel.cancel();
    let (finish, n) = worker.join().unwrap();
    assert_eq!(finish, Some(FinishReason::Cancelled));
    assert!(n > 0 && n < 4000);
}

#[test]
fn sampler() {
    let mut logits = vec![0.0f32; 384];
    logits[17] = 5.0;
    let mut greedy = zaya::Sampler::new(&SamplingParams::greedy()).unwrap();
    assert_eq!(greedy.sample(&logits, &[], 0, 0).unwrap(), 17);
    let mut banned = zaya::Sampler::new(&SamplingParams { logit_bias: vec![(17, f32::NEG_INFINITY)], ..SamplingParams::seeded(2) }).unwrap();
    assert_ne!(banned.sample(&logits, &[], 0, 0).unwrap(), 17);
    let bad = SamplingParams { top_p: 0.0, ..Default::default() };
    assert_eq!(zaya::Sampler::new(&bad).err().unwrap().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn rsa_runs_and_cancels() {
    let model = load();
    let mut run = zaya::Rsa::new(&model, "light").unwrap();
    for (k, v) in [("n", "3"), ("c", "2"), ("t", "1"), ("beta", "6"), ("tau", "4"), ("seed", "5"), ("threads", "1")] {
        run.set(k, v).unwrap();
    }
    assert_eq!(run.set("warp_factor", 9).err().unwrap().kind(), ErrorKind::InvalidArgument);
    let mut kinds = Vec::new();
    let mut record = |e: &str| {
        kinds.push(e.to_string());
        true
    };
    let json = run.run("What is 2+2?", Some(&mut record), false).unwrap();
    assert!(json.contains(r#""stopped_by":"done""#), "{json}");
    assert!(kinds[0].contains(r#""kind":"stage_started""#));
    assert_eq!(run.answer().unwrap(), run.answer().unwrap());
    let mut stop = |_: &str| false;
    let json = run.run("What is 2+2?", Some(&mut stop), false).unwrap();
    assert!(json.contains(r#""stopped_by":"cancel""#), "{json}");
    let cancel = run.cancel_handle();
    cancel.cancel(); // nothing runs: no effect
    let json = run.run("What is 2+2?", None, true).unwrap();
    assert!(json.contains(r#""stopped_by":"done""#), "{json}");
}
