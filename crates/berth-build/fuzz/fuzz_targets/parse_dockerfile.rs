//! Fuzzes the Dockerfile parser and word expansion: they must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(df) = berth_build::dockerfile::parse(text) {
            let lookup = |k: &str| (k.len() % 2 == 0).then(|| k.to_string());
            for step in &df.steps {
                let _ = berth_build::dockerfile::expand(&step.original, &lookup, df.escape);
            }
        }
        let _ = berth_build::dockerfile::expand(text, &|_| None, '\\');
        let _ = berth_build::dockerfile::expand(text, &|_| Some(String::new()), '`');
    }
});
