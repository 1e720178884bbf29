//! `providers.toml` read and checked: every field, the defaults, and each
//! refusal with its message.

use super::*;

fn env(var: &str) -> Option<String> {
    (var == "GOOD_KEY").then(|| "sk-secret-123456".to_string())
}

#[test]
fn the_shipped_example_is_valid() {
    let text = include_str!("../../../../providers.toml.example");
    let providers = parse(text, env).unwrap();
    assert!(providers.iter().any(|p| p.kind == Kind::Openai));
    assert!(providers.iter().any(|p| p.kind == Kind::Anthropic));
    assert!(providers.iter().filter(|p| p.kind == Kind::Sim).count() >= 2);
}

#[test]
fn fields_and_defaults() {
    let text = r#"
        [[providers]]
        name = "local"
        kind = "openai"
        base_url = "http://127.0.0.1:8000/v1/"
        model = "qwen"
        timeout_s = 300
        requests_per_min = 60
        [[providers]]
        name = "paid"
        kind = "openai"
        model = "gpt-4o-mini"
        api_key_env = "GOOD_KEY"
        price_in_per_m = 0.15
        price_out_per_m = 0.6
        [[providers]]
        name = "claude"
        kind = "anthropic"
        model = "claude-haiku-4-5"
        api_key_env = "MISSING_KEY"
        [[providers]]
        name = "cheap-sim"
        kind = "sim"
        [providers.sim]
        latency_ms = 5
        failure_rate = 0.5
        description_rate = 0.4
        echo_rate = 0
        partition_sense = 0.3
        json = true
    "#;
    let p = parse(text, env).unwrap();
    assert_eq!(p[0].base_url, "http://127.0.0.1:8000/v1");
    assert_eq!(
        (p[0].api_key.as_ref(), p[0].timeout),
        (None, Duration::from_secs(300))
    );
    assert_eq!(p[0].requests_per_min, Some(60));
    assert_eq!(p[1].base_url, OPENAI_BASE_URL);
    assert_eq!(p[1].api_key.as_ref().unwrap().expose(), "sk-secret-123456");
    assert!(p[2].unusable.as_deref().unwrap().contains("MISSING_KEY"));
    assert_eq!(p[2].base_url, ANTHROPIC_BASE_URL);
    assert_eq!((p[3].sim.latency_ms, p[3].sim.failure_rate), (5.0, 0.5));
    let outputs: Vec<Output> = p.iter().map(|s| s.output).collect();
    assert_eq!(
        outputs,
        [Output::Json, Output::Json, Output::Json, Output::Text]
    );
    let text = "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\noutput='text'";
    assert_eq!(parse(text, env).unwrap()[0].output, Output::Text);
    let d = SimConfig::default();
    assert_eq!(
        (
            p[3].sim.description_rate,
            p[3].sim.echo_rate,
            p[3].sim.variant_rate
        ),
        (0.4, 0.0, d.variant_rate)
    );
    assert_eq!((p[3].sim.partition_sense, p[3].sim.json), (0.3, true));
    assert!(!p[0].sim.json, "defaults elsewhere");
    assert_eq!(p[3].price_in_per_m, SimConfig::default().price_in_per_m);
}

#[test]
fn bad_files_are_refused_with_the_reason() {
    for (text, reason) in [
        ("", "no [[providers]]"),
        (
            "[[providers]]\nname='a'\nkind='gemini'",
            "not a valid providers file",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\ncolour='red'",
            "not a valid providers file",
        ),
        ("[[providers]]\nname='a b'\nkind='sim'", "name must be"),
        (
            "[[providers]]\nname='a'\nkind='openai'",
            "model is required",
        ),
        (
            "[[providers]]\nname='a'\nkind='anthropic'\nmodel='m'",
            "api_key_env is required",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[[providers]]\nname='a'\nkind='sim'",
            "defined twice",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\nprice_in_per_m=-1",
            "price_in_per_m",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\nmax_concurrency=0",
            "max_concurrency",
        ),
        (
            "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\nbase_url='ftp://x'",
            "base_url",
        ),
        (
            "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\n[providers.sim]\nseed=1",
            "only applies",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\nfailure_rate=2",
            "failure_rate",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\nfanout=40",
            "fanout",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\ndescription_rate=1.5",
            "sim.description_rate must be within 0..=1",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\npartition_sense=-0.1",
            "sim.partition_sense must be within 0..=1",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\njson='yes'",
            "not a valid providers file",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\n[providers.sim]\ndepth=0",
            "depth",
        ),
        (
            "[[providers]]\nname='a'\nkind='sim'\noutput='json'",
            "only applies",
        ),
        (
            "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\noutput='xml'",
            "not a valid providers file",
        ),
        (
            "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\nprice_cache_read_per_m=-1",
            "price_cache_read_per_m must be a number >= 0",
        ),
    ] {
        let error = format!("{:#}", parse(text, env).unwrap_err());
        assert!(error.contains(reason), "{text:?}: {error}");
    }
}

#[test]
fn defaults_follow_the_environment() {
    let names = |env: &dyn Fn(&str) -> Option<String>| -> Vec<String> {
        defaults(SimConfig::default(), env)
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(names(&|_| None), ["sim"]);
    assert_eq!(
        names(&|v| (v == "OPENAI_API_KEY").then(|| "k1234".into())),
        ["sim", "openai"]
    );
    assert_eq!(
        names(&|_| Some("k1234".into())),
        ["sim", "openai", "anthropic"]
    );
}

#[test]
fn keys_never_print() {
    let key = ApiKey::new("sk-live-abcdef");
    let settings = &parse(
        "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\napi_key_env='GOOD_KEY'",
        env,
    )
    .unwrap()[0];
    assert_eq!(format!("{key:?}"), "ApiKey(***)");
    assert!(!format!("{settings:?}").contains("sk-secret"));
    assert_eq!(
        key.redact("bad key sk-live-abcdef given"),
        "bad key *** given"
    );
}

#[test]
fn batch_mode_keys_and_defaults() {
    let batch = |extra: &str| {
        parse(
            &format!("[[providers]]\nname='a'\nkind='openai'\nmodel='m'\n{extra}"),
            env,
        )
        .map(|p| p[0].batch)
    };
    assert_eq!(batch("").unwrap(), None, "live by default");
    assert_eq!(batch("mode='live'").unwrap(), None);
    assert_eq!(
        batch("mode='batch'").unwrap(),
        Some(Batch {
            size: batch::DEFAULT_BATCH_SIZE,
            fill: Duration::from_secs(60),
            poll_first: Duration::from_secs(5),
            poll_max: Duration::from_secs(300),
            price_factor: 0.5,
        })
    );
    assert_eq!(
        batch("mode='batch'\nbatch_size=50000\nbatch_fill_s=2.5\nbatch_poll_s=0.05\nbatch_poll_max_s=0.2\nprice_batch_factor=0.4")
            .unwrap(),
        Some(Batch {
            size: 50_000,
            fill: Duration::from_millis(2500),
            poll_first: Duration::from_millis(50),
            poll_max: Duration::from_millis(200),
            price_factor: 0.4,
        })
    );
    let anthropic = parse(
        "[[providers]]\nname='a'\nkind='anthropic'\nmodel='m'\napi_key_env='GOOD_KEY'\nmode='batch'\nbatch_size=100000",
        env,
    )
    .unwrap();
    assert_eq!(anthropic[0].batch.map(|b| b.size), Some(100_000));
}

#[test]
fn bad_batch_settings_are_refused_with_the_reason() {
    let openai = "[[providers]]\nname='a'\nkind='openai'\nmodel='m'\n";
    for (extra, reason) in [
        ("mode='bulk'", "not a valid providers file"),
        ("batch_size=10", "only apply to mode = \"batch\""),
        ("price_batch_factor=0.5", "only apply to mode = \"batch\""),
        (
            "mode='batch'\nbatch_size=0",
            "batch_size must be within 1..=50000",
        ),
        (
            "mode='batch'\nbatch_size=50001",
            "batch_size must be within 1..=50000",
        ),
        ("batch_fill_s=1", "only apply to mode = \"batch\""),
        ("mode='batch'\nbatch_fill_s=-1", "batch_fill_s must be >= 0"),
        ("mode='batch'\nbatch_poll_s=0", "batch_poll_s must be > 0"),
        ("mode='batch'\nbatch_poll_s=-3", "batch_poll_s must be > 0"),
        (
            "mode='batch'\nbatch_poll_s=10\nbatch_poll_max_s=5",
            "batch_poll_max_s must be >= batch_poll_s",
        ),
        ("mode='batch'\nprice_batch_factor=0", "price_batch_factor"),
        ("mode='batch'\nprice_batch_factor=1.5", "price_batch_factor"),
    ] {
        let text = format!("{openai}{extra}");
        let error = format!("{:#}", parse(&text, env).unwrap_err());
        assert!(error.contains(reason), "{text:?}: {error}");
    }
    let error = format!(
        "{:#}",
        parse("[[providers]]\nname='s'\nkind='sim'\nmode='batch'", env).unwrap_err()
    );
    assert!(
        error.contains("only applies to kinds \"openai\" and \"anthropic\""),
        "{error}"
    );
    let error = format!(
        "{:#}",
        parse(
            "[[providers]]\nname='a'\nkind='anthropic'\nmodel='m'\napi_key_env='GOOD_KEY'\nmode='batch'\nbatch_size=100001",
            env
        )
        .unwrap_err()
    );
    assert!(error.contains("within 1..=100000"), "{error}");
}
