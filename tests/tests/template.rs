//! `template.yaml` agrees with the code: every function's environment is exactly the variables
//! its config struct reads, its policy allows exactly the actions its ports call (each on the
//! resource its config names) and nothing unscoped, and the Function URLs are of the right kind.

use burstline::iam::Grant;
use serde_norway::Value;
use std::collections::{BTreeSet, HashMap};

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every function's (binary, environment variable names).
fn functions(t: &Value) -> Vec<(String, BTreeSet<String>)> {
    let resources = t["Resources"].as_mapping().unwrap();
    resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned();
            let vars = r["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (binary, vars)
        })
        .collect()
}

fn code_vars(binary: &str) -> Option<BTreeSet<String>> {
    let vars: &[&str] = match binary {
        "ingest" => &ingest::IngestConfig::VARS,
        "fanout" => &fanout::FanoutConfig::VARS,
        "deliver" => &deliver::DeliverConfig::VARS,
        "api" => &api::ApiConfig::VARS,
        "stream" => &stream::StreamConfig::VARS,
        _ => return None,
    };
    Some(vars.iter().map(|v| (*v).to_owned()).collect())
}

fn declared_grants(binary: &str) -> &'static [Grant] {
    match binary {
        "ingest" => ingest::AWS_ACTIONS,
        "fanout" => fanout::AWS_ACTIONS,
        "deliver" => deliver::AWS_ACTIONS,
        "api" => api::AWS_ACTIONS,
        "stream" => stream::AWS_ACTIONS,
        other => panic!("no AWS_ACTIONS known for function {other}"),
    }
}

/// An intrinsic function's name and argument: `!Ref X` is `("Ref", "X")`.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            &t.value,
        )),
        _ => None,
    }
}

/// The sealing key: `!If [C, !GetAtt K.Arn, !Ref P]`, where `K` is this template's
/// `AWS::KMS::Key` created under condition `C`, which holds exactly when parameter `P` is empty.
/// Named `K|P`: one key, whichever branch deploys.
fn sealing_key(t: &Value, v: &Value) -> Option<String> {
    let (tag, arg) = intrinsic(v)?;
    if tag != "If" {
        return None;
    }
    let [cond, created, given] = arg.as_sequence()?.as_slice() else {
        return None;
    };
    let cond = cond.as_str()?;
    let key = match intrinsic(created)? {
        (tag, a) if tag == "GetAtt" => a.as_str()?.strip_suffix(".Arn")?.to_owned(),
        _ => return None,
    };
    let param = match intrinsic(given)? {
        (tag, a) if tag == "Ref" => a.as_str()?.to_owned(),
        _ => return None,
    };
    let resource = &t["Resources"][key.as_str()];
    assert_eq!(resource["Type"].as_str(), Some("AWS::KMS::Key"), "{key}");
    assert_eq!(resource["Condition"].as_str(), Some(cond), "{key}");
    assert!(t["Parameters"].get(param.as_str()).is_some(), "{param}");
    // The condition is exactly "the parameter is empty".
    let (f, eq) = intrinsic(&t["Conditions"][cond]).expect("a condition function");
    assert_eq!(f, "Equals", "{cond}");
    let eq = eq.as_sequence().unwrap();
    assert_eq!(
        intrinsic(&eq[0]).map(|(f, a)| (f, a.as_str().unwrap().to_owned())),
        Some(("Ref".to_owned(), param.clone())),
        "{cond}"
    );
    assert_eq!(eq[1].as_str(), Some(""), "{cond}");
    Some(format!("{key}|{param}"))
}

/// The logical id a policy `Resource` names: only `!GetAtt X.Arn` of the template's own
/// resources (or the [`sealing_key`]) counts as scoped; `*`, wildcard ARNs and anything else
/// fail.
fn scoped_resource(t: &Value, who: &str, r: &Value) -> String {
    if let Some(key) = sealing_key(t, r) {
        return key;
    }
    let target = match intrinsic(r) {
        Some((tag, arg)) if tag == "GetAtt" => arg
            .as_str()
            .and_then(|a| a.strip_suffix(".Arn"))
            .map(str::to_owned),
        _ => None,
    };
    let id = target.unwrap_or_else(|| panic!("{who}: resource {r:?} is not `!GetAtt X.Arn`"));
    assert!(
        t["Resources"].get(id.as_str()).is_some(),
        "{who}: {id} is not a resource of the template"
    );
    id
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v.as_sequence() {
        Some(seq) => seq.iter().collect(),
        None => vec![v],
    }
}

/// Every function resource, by binary name.
fn function_resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str();
            (
                binary
                    .unwrap_or_else(|| panic!("{id:?} has no Binary"))
                    .to_owned(),
                r,
            )
        })
        .collect()
}

/// (action, logical id) pairs the function's own policy statements allow. Conditions only
/// narrow a statement, so they are ignored here.
fn allowed(t: &Value, binary: &str, function: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let policies = function["Properties"]["Policies"].as_sequence();
    for policy in policies.into_iter().flatten() {
        let statements = policy["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{binary}: only inline statements are expected: {policy:?}"));
        for st in statements {
            let who = format!("{binary} {}", st["Sid"].as_str().unwrap_or("?"));
            assert_eq!(st["Effect"].as_str(), Some("Allow"), "{who}");
            // `!If` reads as a sequence too: take the sealing key whole.
            let resources: Vec<String> = match sealing_key(t, &st["Resource"]) {
                Some(key) => vec![key],
                None => one_or_many(&st["Resource"])
                    .into_iter()
                    .map(|r| scoped_resource(t, &who, r))
                    .collect(),
            };
            for action in one_or_many(&st["Action"]) {
                let action = action
                    .as_str()
                    .unwrap_or_else(|| panic!("{who}: {action:?}"));
                assert!(!action.contains('*'), "{who}: wildcard action {action}");
                for r in &resources {
                    out.insert((action.to_owned(), r.clone()));
                }
            }
        }
    }
    out
}

/// What the function's event sources need beyond its ports: sending to an on-failure
/// destination is done with the function's role.
fn event_source_needs(t: &Value, binary: &str, function: &Value) -> BTreeSet<(String, String)> {
    let events = function["Properties"]["Events"].as_mapping();
    events
        .into_iter()
        .flatten()
        .filter_map(|(_, e)| e["Properties"]["DestinationConfig"]["OnFailure"].get("Destination"))
        .map(|d| ("sqs:SendMessage".to_owned(), scoped_resource(t, binary, d)))
        .collect()
}

/// The logical id behind a function's environment variable (`VAR: !Ref X`, or the
/// [`sealing_key`]).
fn env_resource(t: &Value, function: &Value, binary: &str, var: &str) -> String {
    let v = &function["Properties"]["Environment"]["Variables"][var];
    if let Some(key) = sealing_key(t, v) {
        return key;
    }
    match intrinsic(v) {
        Some((tag, arg)) if tag == "Ref" => arg.as_str().unwrap().to_owned(),
        _ => panic!("{binary}: {var} is {v:?}, not `!Ref` of a resource"),
    }
}

/// (action, logical id) pairs the function's ports call, from its `AWS_ACTIONS`.
fn needed(t: &Value, function: &Value, binary: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for grant in declared_grants(binary) {
        let resource = env_resource(t, function, binary, grant.resource);
        for action in grant.actions() {
            out.insert((action.to_owned(), resource.clone()));
        }
    }
    out
}

#[test]
fn every_action_a_port_calls_is_allowed_on_its_resource() {
    let t = template();
    for (binary, function) in function_resources(&t) {
        let allowed = allowed(&t, &binary, function);
        let missing: Vec<_> = needed(&t, function, &binary)
            .difference(&allowed)
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "{binary}: template.yaml lacks (action, resource) {missing:?}, which its ports call"
        );
    }
}

#[test]
fn nothing_is_allowed_beyond_what_ports_and_event_sources_need() {
    let t = template();
    for (binary, function) in function_resources(&t) {
        let mut needs = needed(&t, function, &binary);
        needs.extend(event_source_needs(&t, &binary, function));
        let extra: Vec<_> = allowed(&t, &binary, function)
            .difference(&needs)
            .cloned()
            .collect();
        assert!(
            extra.is_empty(),
            "{binary}: template.yaml allows {extra:?}, which no port of it calls"
        );
    }
}

#[test]
fn grants_name_variables_the_config_reads() {
    for binary in ["ingest", "fanout", "deliver", "stream", "api"] {
        let vars = code_vars(binary).unwrap();
        for grant in declared_grants(binary) {
            assert!(
                vars.contains(grant.resource),
                "{binary}: {}",
                grant.resource
            );
        }
    }
}

#[test]
fn fanout_may_send_failed_batches_to_its_destination() {
    let t = template();
    let (_, fanout) = function_resources(&t)
        .into_iter()
        .find(|(b, _)| b == "fanout")
        .unwrap();
    let needs = event_source_needs(&t, "fanout", fanout);
    assert_eq!(
        needs.into_iter().collect::<Vec<_>>(),
        [(
            "sqs:SendMessage".to_owned(),
            "FanoutFailureQueue".to_owned()
        )]
    );
    let allowed = allowed(&t, "fanout", fanout);
    assert!(allowed.contains(&(
        "sqs:SendMessage".to_owned(),
        "FanoutFailureQueue".to_owned()
    )));
}

#[test]
fn every_function_sets_exactly_what_its_config_reads() {
    let fns = functions(&template());
    let names: BTreeSet<&str> = fns.iter().map(|(b, _)| b.as_str()).collect();
    for expected in ["ingest", "fanout", "deliver", "stream", "api"] {
        assert!(
            names.contains(expected),
            "template.yaml lacks the {expected} function"
        );
    }
    for (binary, set) in &fns {
        let read = code_vars(binary)
            .unwrap_or_else(|| panic!("no config struct known for function {binary}"));
        let unset: Vec<_> = read.difference(set).collect();
        let unread: Vec<_> = set.difference(&read).collect();
        assert!(
            unset.is_empty(),
            "{binary}: read but not set in template.yaml: {unset:?}"
        );
        assert!(
            unread.is_empty(),
            "{binary}: set in template.yaml but never read: {unread:?}"
        );
    }
}

#[test]
fn every_function_has_the_memory_the_meter_bills() {
    let t = template();
    let global = t["Globals"]["Function"]["MemorySize"].as_u64().unwrap();
    let mut seen = BTreeSet::new();
    for r in t["Resources"].as_mapping().unwrap().values() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let memory = r["Properties"]["MemorySize"].as_u64().unwrap_or(global);
        assert_eq!(
            u64::from(burstline::meter::lambda::memory_mb(binary)),
            memory,
            "{binary}'s MemorySize"
        );
        seen.insert(binary.to_owned());
    }
    let metered: BTreeSet<String> = burstline::meter::lambda::MEMORY_MB
        .iter()
        .map(|(f, _)| (*f).to_owned())
        .collect();
    assert_eq!(seen, metered);
}

#[test]
fn functions_share_one_build_and_runtime() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(globals["CodeUri"].as_str(), Some("."));
    for r in t["Resources"].as_mapping().unwrap().values() {
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            assert_eq!(
                r["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda")
            );
        }
    }
}

#[test]
fn the_stream_url_streams_and_allows_browser_headers() {
    let t = template();
    let f = &t["Resources"]["StreamFunction"]["Properties"];
    assert_eq!(
        f["FunctionUrlConfig"]["InvokeMode"].as_str(),
        Some("RESPONSE_STREAM")
    );
    let headers: Vec<&str> = f["FunctionUrlConfig"]["Cors"]["AllowHeaders"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    assert!(
        headers.contains(&"authorization") && headers.contains(&"last-event-id"),
        "{headers:?}"
    );
    for buffered in ["IngestFunction", "ApiFunction"] {
        let mode =
            t["Resources"][buffered]["Properties"]["FunctionUrlConfig"]["InvokeMode"].as_str();
        assert_eq!(mode, Some("BUFFERED"), "{buffered}");
    }
}

#[test]
fn every_table_is_on_demand_with_ttl_and_point_in_time_recovery() {
    let t = template();
    let tables: Vec<_> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect();
    assert_eq!(tables.len(), 3);
    for (id, table) in tables {
        let p = &table["Properties"];
        assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{id:?}");
        assert_eq!(
            p["TimeToLiveSpecification"]["AttributeName"].as_str(),
            Some("expires_at"),
            "{id:?}"
        );
        assert_eq!(
            p["TimeToLiveSpecification"]["Enabled"].as_bool(),
            Some(true),
            "{id:?}"
        );
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true),
            "{id:?}"
        );
    }
}

/// Every metric name each function's code emits (`functions/<fn>/src/metrics.rs`).
fn emitted(function: &str) -> &'static [&'static str] {
    match function {
        "ingest" => ingest::metrics::NAMES,
        "fanout" => fanout::metrics::NAMES,
        "deliver" => deliver::metrics::NAMES,
        "stream" => stream::metrics::NAMES,
        "api" => api::metrics::NAMES,
        other => panic!("no metrics known for function {other}"),
    }
}

/// `METRICS_NAMESPACE` as every function sets it; they must all agree.
fn metrics_namespace(t: &Value) -> Value {
    let mut seen: Vec<Value> = function_resources(t)
        .into_iter()
        .map(|(binary, f)| {
            f["Properties"]["Environment"]["Variables"]
                .get("METRICS_NAMESPACE")
                .unwrap_or_else(|| panic!("{binary} sets no METRICS_NAMESPACE"))
                .clone()
        })
        .collect();
    seen.dedup();
    assert_eq!(
        seen.len(),
        1,
        "functions disagree on METRICS_NAMESPACE: {seen:?}"
    );
    seen.remove(0)
}

/// The dashboard body's JSON, with its `!Sub` variables resolved to placeholders, after
/// checking `Ns` is the functions' namespace.
fn dashboard(t: &Value) -> serde_json::Value {
    let body = &t["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"];
    let (tag, args) = intrinsic(body).expect("DashboardBody is !Sub [text, variables]");
    assert_eq!(tag, "Sub");
    let text = args[0].as_str().unwrap();
    assert_eq!(
        args[1]["Ns"],
        metrics_namespace(t),
        "the dashboard's namespace"
    );
    serde_json::from_str(
        &text
            .replace("${Ns}", "NS")
            .replace("${AWS::Region}", "REGION"),
    )
    .expect("the dashboard body is JSON")
}

/// The value after `key="` in a SEARCH expression, for every occurrence.
fn quoted_after<'a>(expression: &'a str, key: &str) -> Vec<&'a str> {
    let needle = format!("{key}=\"");
    expression
        .match_indices(&needle)
        .filter_map(|(i, _)| expression[i + needle.len()..].split('"').next())
        .collect()
}

/// (function, metric) pairs the dashboard graphs: metric rows `[NS, name, "function", fn, …]`
/// and `SEARCH` expressions (`MetricName="…"`, with `function="…"` or any function).
fn dashboard_metrics(d: &serde_json::Value) -> BTreeSet<(Option<String>, String)> {
    let mut out = BTreeSet::new();
    let widgets = d["widgets"].as_array().expect("widgets");
    for w in widgets.iter().filter(|w| w["type"] == "metric") {
        for row in w["properties"]["metrics"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            if row[0] == "NS" {
                assert_eq!(
                    row[2], "function",
                    "{row:?}: the first dimension is function"
                );
                out.insert((
                    row[3].as_str().map(str::to_owned),
                    row[1].as_str().unwrap().to_owned(),
                ));
            } else if let Some(e) = row[0]["expression"]
                .as_str()
                .filter(|e| e.contains("SEARCH"))
            {
                assert!(
                    e.contains("{NS,function,"),
                    "{e}: searches its namespace by function"
                );
                let schema = e.split('{').nth(1).and_then(|rest| rest.split_once('}'));
                assert!(
                    schema.is_some_and(|(_, after)| after.starts_with(" MetricName=")),
                    "{e}: one {{namespace,dimensions}} schema, then MetricName"
                );
                let function = quoted_after(e, "function").first().map(|f| (*f).to_owned());
                for name in quoted_after(e, "MetricName") {
                    out.insert((function.clone(), name.to_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn the_dashboard_graphs_exactly_the_metrics_the_code_emits() {
    let t = template();
    let graphed = dashboard_metrics(&dashboard(&t));
    let functions = ["ingest", "fanout", "deliver", "stream", "api"];
    for (function, name) in &graphed {
        let known = match function {
            Some(f) => emitted(f).contains(&name.as_str()),
            None => functions
                .iter()
                .any(|f| emitted(f).contains(&name.as_str())),
        };
        assert!(
            known,
            "the dashboard graphs {name} of {function:?}, which no code emits"
        );
    }
    for f in functions {
        for name in emitted(f) {
            let shown = graphed
                .iter()
                .any(|(g, n)| n == name && g.as_deref().is_none_or(|g| g == f));
            assert!(shown, "{f} emits {name}, which the dashboard does not show");
        }
    }
}

#[test]
fn metric_alarms_watch_metrics_the_code_emits_in_its_namespace() {
    let t = template();
    let ns = metrics_namespace(&t);
    let mut checked = 0;
    for (id, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = &r["Properties"];
        let mut metrics: Vec<&Value> = vec![p];
        if let Some(list) = p["Metrics"].as_sequence() {
            metrics.extend(list.iter().filter_map(|m| m["MetricStat"].get("Metric")));
        }
        for m in metrics
            .into_iter()
            .filter(|m| m.get("Namespace") == Some(&ns))
        {
            let name = m["MetricName"].as_str().unwrap();
            let function = m["Dimensions"]
                .as_sequence()
                .and_then(|d| d.iter().find(|d| d["Name"].as_str() == Some("function")))
                .and_then(|d| d["Value"].as_str())
                .unwrap_or_else(|| panic!("{id:?}: {name} without a function dimension"));
            assert!(
                emitted(function).contains(&name),
                "{id:?} watches {name} of {function}, which it does not emit"
            );
            checked += 1;
        }
    }
    // DeadLetters, FanoutLag, and the three outcomes of the failure rate.
    assert_eq!(checked, 5, "metric alarms on the stack's own namespace");
}

/// An intrinsic in either form: `!Name arg` or `{"Fn::Name": arg}` / `{"Ref": arg}`.
fn function(v: &Value) -> Option<(String, &Value)> {
    if let Some(f) = intrinsic(v) {
        return Some(f);
    }
    let m = v.as_mapping().filter(|m| m.len() == 1)?;
    let (k, arg) = m.iter().next()?;
    let name = k.as_str()?;
    Some((name.trim_start_matches("Fn::").to_owned(), arg))
}

/// A rule operand as CloudFormation sees it: a string (parameters are strings).
fn rule_string(v: &Value, params: &HashMap<String, String>) -> String {
    match function(v) {
        Some((f, arg)) if f == "Ref" => params[arg.as_str().unwrap()].clone(),
        Some((f, _)) => panic!("unsupported rule function {f}"),
        None => match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("not a string operand: {other:?}"),
        },
    }
}

/// Evaluates a rule condition or assertion (the functions this template uses).
fn rule_holds(v: &Value, params: &HashMap<String, String>) -> bool {
    let (f, arg) = function(v).unwrap_or_else(|| panic!("not a rule function: {v:?}"));
    let args = arg.as_sequence().unwrap();
    match f.as_str() {
        "Equals" => rule_string(&args[0], params) == rule_string(&args[1], params),
        "Not" => !rule_holds(&args[0], params),
        "And" => args.iter().all(|a| rule_holds(a, params)),
        "Or" => args.iter().any(|a| rule_holds(a, params)),
        "Contains" => {
            let needle = rule_string(&args[1], params);
            args[0]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|s| rule_string(s, params) == needle)
        }
        other => panic!("unsupported rule function {other}"),
    }
}

/// Whether the template's Rules accept these parameter values.
fn rules_accept(t: &Value, params: &HashMap<String, String>) -> bool {
    t["Rules"].as_mapping().unwrap().values().all(|rule| {
        let applies = rule
            .get("RuleCondition")
            .is_none_or(|c| rule_holds(c, params));
        !applies
            || rule["Assertions"]
                .as_sequence()
                .unwrap()
                .iter()
                .all(|a| rule_holds(&a["Assert"], params))
    })
}

#[test]
fn events_are_kept_at_least_as_long_as_the_stream_keeps_records() {
    let t = template();
    let p = &t["Parameters"];
    // The two parameters are what the stream and the functions actually use.
    assert_eq!(
        intrinsic(&t["Resources"]["EventStream"]["Properties"]["RetentionPeriodHours"])
            .map(|(f, a)| (f, a.as_str().unwrap().to_owned())),
        Some(("Ref".into(), "StreamRetentionHours".into()))
    );
    for (name, f) in function_resources(&t) {
        if let Some(v) = f["Properties"]["Environment"]["Variables"].get("RETENTION_DAYS") {
            assert_eq!(
                intrinsic(v).map(|(f, a)| (f, a.as_str().unwrap().to_owned())),
                Some(("Ref".into(), "RetentionDays".into())),
                "{name}"
            );
        }
    }
    let hours: Vec<u64> = p["StreamRetentionHours"]["AllowedValues"]
        .as_sequence()
        .expect("StreamRetentionHours is a list of allowed values")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(hours.contains(&24) && hours.contains(&168), "{hours:?}");
    let max_days = p["RetentionDays"]["MaxValue"].as_u64().unwrap();
    let min_days = p["RetentionDays"]["MinValue"].as_u64().unwrap();
    for h in &hours {
        for d in min_days..=max_days {
            let params = HashMap::from([
                ("StreamRetentionHours".to_owned(), h.to_string()),
                ("RetentionDays".to_owned(), d.to_string()),
            ]);
            assert_eq!(
                rules_accept(&t, &params),
                d * 24 >= *h,
                "RetentionDays {d} with StreamRetentionHours {h}"
            );
        }
    }
    let defaults = HashMap::from([
        (
            "StreamRetentionHours".to_owned(),
            rule_string(&p["StreamRetentionHours"]["Default"], &HashMap::new()),
        ),
        (
            "RetentionDays".to_owned(),
            rule_string(&p["RetentionDays"]["Default"], &HashMap::new()),
        ),
    ]);
    assert!(rules_accept(&t, &defaults), "{defaults:?}");
}

#[test]
fn only_the_api_seals_and_only_the_api_and_deliver_open_secrets() {
    let t = template();
    for (binary, function) in function_resources(&t) {
        let kms: BTreeSet<String> = allowed(&t, &binary, function)
            .into_iter()
            .filter(|(action, _)| action.starts_with("kms:"))
            .map(|(action, resource)| {
                assert_eq!(resource, "SealingKey|SealingKeyArn", "{binary}: {action}");
                action
            })
            .collect();
        let expected: &[&str] = match binary.as_str() {
            "api" => &["kms:Decrypt", "kms:GenerateDataKey"],
            "deliver" => &["kms:Decrypt"],
            _ => &[],
        };
        assert_eq!(
            kms.iter().map(String::as_str).collect::<Vec<_>>(),
            expected,
            "{binary}"
        );
    }
    let key = &t["Resources"]["SealingKey"]["Properties"];
    assert_eq!(key["EnableKeyRotation"].as_bool(), Some(true));
    assert_eq!(key["KeySpec"].as_str(), Some("SYMMETRIC_DEFAULT"));
}

#[test]
fn the_stream_function_reserves_concurrency_and_nothing_else_does() {
    let t = template();
    let p = &t["Parameters"]["StreamReservedConcurrency"];
    assert_eq!(p["Type"].as_str(), Some("Number"));
    // Every open stream is one running function: a default cap that leaves the account's
    // default 1,000 (less the 100 Lambda keeps unreserved) mostly to the pipeline.
    let default = p["Default"].as_u64().unwrap();
    assert!((1..=500).contains(&default), "{default}");
    assert_eq!(p["MinValue"].as_u64(), Some(0));
    // 0 means no reservation (not a function throttled to zero).
    let condition = &t["Conditions"]["HasStreamReservedConcurrency"];
    let (not, inner) = intrinsic(condition).unwrap();
    assert_eq!(not, "Not");
    let (eq, args) = intrinsic(&inner[0]).unwrap();
    assert_eq!(eq, "Equals");
    assert_eq!(
        intrinsic(&args[0]).map(|(tag, a)| (tag, a.as_str().unwrap().to_owned())),
        Some(("Ref".to_owned(), "StreamReservedConcurrency".to_owned()))
    );
    assert_eq!(args[1].as_str(), Some("0"));
    let reserved = &t["Resources"]["StreamFunction"]["Properties"]["ReservedConcurrentExecutions"];
    let (tag, arms) = intrinsic(reserved).expect("StreamFunction reserves concurrency");
    assert_eq!(tag, "If");
    assert_eq!(arms[0].as_str(), Some("HasStreamReservedConcurrency"));
    let arm = |i: usize| intrinsic(&arms[i]).map(|(tag, a)| (tag, a.as_str().unwrap().to_owned()));
    assert_eq!(
        arm(1),
        Some(("Ref".to_owned(), "StreamReservedConcurrency".to_owned()))
    );
    assert_eq!(arm(2), Some(("Ref".to_owned(), "AWS::NoValue".to_owned())));
    // The pipeline's functions draw on the unreserved pool, which the streams cannot drain.
    for (binary, f) in function_resources(&t) {
        if binary != "stream" {
            assert!(
                f["Properties"]
                    .get("ReservedConcurrentExecutions")
                    .is_none(),
                "{binary}"
            );
        }
    }
}

#[test]
fn fanout_reads_through_an_enhanced_fan_out_consumer_when_asked() {
    let t = template();
    let p = &t["Parameters"]["FanoutConsumer"];
    let allowed: Vec<&str> = p["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, ["standard", "efo"]);
    assert_eq!(p["Default"].as_str(), Some("efo"));
    let (eq, args) = intrinsic(&t["Conditions"]["UseFanoutConsumer"]).unwrap();
    assert_eq!(eq, "Equals");
    assert_eq!(args[1].as_str(), Some("efo"));
    let consumer = &t["Resources"]["FanoutStreamConsumer"];
    assert_eq!(
        consumer["Type"].as_str(),
        Some("AWS::Kinesis::StreamConsumer")
    );
    assert_eq!(consumer["Condition"].as_str(), Some("UseFanoutConsumer"));
    assert_eq!(
        intrinsic(&consumer["Properties"]["StreamARN"]).map(|(tag, a)| (tag, a.clone())),
        Some(("GetAtt".to_owned(), Value::from("EventStream.Arn")))
    );
    let mapping =
        &t["Resources"]["FanoutFunction"]["Properties"]["Events"]["EventStream"]["Properties"];
    // The consumer's ARN on the efo path, the stream's otherwise.
    let (tag, arms) = intrinsic(&mapping["Stream"]).unwrap();
    assert_eq!(tag, "If");
    assert_eq!(arms[0].as_str(), Some("UseFanoutConsumer"));
    let arm = |i: usize| intrinsic(&arms[i]).map(|(tag, a)| (tag, a.as_str().unwrap().to_owned()));
    assert_eq!(
        arm(1),
        Some((
            "GetAtt".to_owned(),
            "FanoutStreamConsumer.ConsumerARN".to_owned()
        ))
    );
    assert_eq!(
        arm(2),
        Some(("GetAtt".to_owned(), "EventStream.Arn".to_owned()))
    );
    // Records are pushed on the efo path: no batching window there; the parameter's when
    // polling.
    let (tag, window) = intrinsic(&mapping["MaximumBatchingWindowInSeconds"]).unwrap();
    assert_eq!(tag, "If");
    assert_eq!(window[0].as_str(), Some("UseFanoutConsumer"));
    assert_eq!(window[1].as_u64(), Some(0));
    assert_eq!(
        intrinsic(&window[2]).map(|(tag, a)| (tag, a.clone())),
        Some((
            "Ref".to_owned(),
            Value::from("FanoutStandardBatchingWindowSeconds")
        ))
    );
}

/// The AWS model (`shared/model/aws-latency.toml`) runs the mappings as the template deploys
/// them: the same fanout `ParallelizationFactor`, standard batching window and deliver
/// `MaximumConcurrency` defaults.
#[test]
fn the_aws_model_runs_the_templates_mapping_defaults() {
    let t = template();
    let default = |name: &str| t["Parameters"][name]["Default"].as_u64().unwrap() as usize;
    let model = burstline::model::LatencyTable::default_table();
    assert_eq!(
        model.parallelization_factor,
        default("FanoutParallelizationFactor")
    );
    assert_eq!(
        model.deliver_concurrency,
        default("DeliverMaximumConcurrency")
    );
    assert_eq!(
        model.standard.batching_window.as_secs() as usize,
        default("FanoutStandardBatchingWindowSeconds")
    );
    assert_eq!(model.efo.batching_window.as_secs(), 0);
}
