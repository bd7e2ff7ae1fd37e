//! Streaming generation with the safe Rust API: the text arrives piece by piece from an
//! iterator, and a second thread cancels a long answer through a CancelHandle.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use zaya::{FinishReason, GenerateOptions, Model, ModelOptions, SamplingParams, TokenizerSource};

fn run() -> zaya::Result<bool> {
    let mut args = std::env::args().skip(1);
    let Some(model_dir) = args.next() else {
        eprintln!("usage: zaya-example <model-dir> [tokenizer-path] [prompt]");
        return Ok(false);
    };
    let tokenizer = args.next().map(|p| TokenizerSource::Path(PathBuf::from(p))).unwrap_or_default();
    let prompt = args.next().unwrap_or_else(|| "Once upon a time".to_string());

    let model = Model::load_with(&model_dir, ModelOptions { tokenizer, ..Default::default() })?;
    let info = model.info()?;
    eprintln!("zaya {}: {} layers, {} experts, backend {}", zaya::version(), info.layers, info.experts, info.backend);

    let options = GenerateOptions {
        max_tokens: 48,
        sampling: SamplingParams { temperature: 0.8, top_p: 0.95, ..SamplingParams::seeded(7) },
        ..Default::default()
    };
    let mut out = std::io::stdout();
    print!("{prompt}");
    let mut generation = model.generate(prompt.as_str(), &options)?;
    for piece in generation.by_ref() {
        print!("{}", piece?);
        out.flush().ok();
    }
    println!("\n[{} tokens, {:?}]", generation.tokens().len(), generation.finish_reason());

    // A long answer on a worker thread, cancelled from here once it has started.
    let long = model.generate(prompt.as_str(), &GenerateOptions { max_tokens: 3000, stop_at_eos: false, ..options })?;
    let cancel = long.cancel_handle();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut long = long;
        let mut first = true;
        while let Some(piece) = long.next() {
            piece?;
            if first {
                started_tx.send(()).ok();
                first = false;
            }
        }
        Ok::<_, zaya::Error>((long.finish_reason(), long.tokens().len()))
    });
    started_rx.recv().ok();
    cancel.cancel();
    let (finish, n) = worker.join().expect("worker thread")?;
    println!("[long answer: {n} tokens, {finish:?}]");
    Ok(!generation.tokens().is_empty() && finish == Some(FinishReason::Cancelled))
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
