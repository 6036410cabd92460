//! Set algebra over sorted sets (and plain sets, whose members count with
//! score 1): ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.

use std::collections::{HashMap, HashSet};

use shoal_engine::events;
use shoal_types::set::Set;
use shoal_types::zset::ZSet;
use shoal_types::Value;

use super::{parts, reply_element, reply_elements_header, store_result};
use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Where the result goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Reply with the elements (ZUNION, ZINTER, ZDIFF).
    Reply,
    /// Store at argv[1] (the STORE forms).
    Store,
    /// Reply with the size of the intersection (ZINTERCARD).
    Cardinality,
}

struct Request<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0: none).
    limit: usize,
}

/// Parses `numkeys` and checks it against the arguments (errors that come
/// before the keys are looked up).
fn parse_numkeys(ctx: &Ctx<'_>, argv: &[&[u8]], numkeys_index: usize) -> Result<usize, CmdError> {
    let numkeys = parse::int(argv[numkeys_index])?;
    if numkeys < 1 {
        return Err(CmdError::err(format!("at least 1 input key is needed for '{}' command", ctx.cmd.name)));
    }
    if numkeys as u64 > (argv.len() - numkeys_index - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    Ok(numkeys as usize)
}

/// Parses the options after the keys.
fn parse_options<'a>(argv: &[&'a [u8]], first_key: usize, numkeys: usize, op: Op, output: Output) -> Result<Request<'a>, CmdError> {
    let keys = argv[first_key..first_key + numkeys].to_vec();
    let mut request = Request { keys, weights: vec![1.0; numkeys], aggregate: Aggregate::Sum, withscores: false, limit: 0 };
    let scored = op != Op::Diff && output != Output::Cardinality;
    let mut j = first_key + numkeys;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let arg = argv[j];
        if scored && remaining > numkeys && parse::is(arg, "weights") {
            for (i, weight) in argv[j + 1..j + 1 + numkeys].iter().enumerate() {
                request.weights[i] = parse::float(weight).map_err(|_| CmdError::err("weight value is not a float"))?;
            }
            j += numkeys + 1;
        } else if scored && remaining >= 2 && parse::is(arg, "aggregate") {
            request.aggregate = match argv[j + 1] {
                a if parse::is(a, "sum") => Aggregate::Sum,
                a if parse::is(a, "min") => Aggregate::Min,
                a if parse::is(a, "max") => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            j += 2;
        } else if output == Output::Reply && parse::is(arg, "withscores") {
            request.withscores = true;
            j += 1;
        } else if output == Output::Cardinality && remaining >= 2 && parse::is(arg, "limit") {
            let limit = parse::int(argv[j + 1]).ok().filter(|l| *l >= 0);
            request.limit = limit.ok_or(CmdError::LIMIT_NEGATIVE)? as usize;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(request)
}

/// The members of a plain set, each once.
fn plain_set_members(set: &Set) -> HashSet<Vec<u8>> {
    set.iter().map(|m| m.to_vec()).collect()
}

/// One input of the operation.
enum Input<'t> {
    Missing,
    Sorted(&'t ZSet),
    Plain(HashSet<Vec<u8>>),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Sorted(z) => z.len(),
            Input::Plain(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Sorted(z) => z.score(member),
            Input::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut visit: impl FnMut(&[u8], f64) -> bool) {
        match self {
            Input::Missing => {}
            Input::Sorted(z) => {
                for (m, s) in z.iter() {
                    if !visit(m, s) {
                        return;
                    }
                }
            }
            Input::Plain(set) => {
                for m in set {
                    if !visit(m, 1.0) {
                        return;
                    }
                }
            }
        }
    }
}

/// Combines `value` into `target` the way AGGREGATE asks.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            // inf + -inf: Redis settles on 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if value < *target { value } else { *target },
        Aggregate::Max => *target = if value > *target { value } else { *target },
    }
}

/// A weighted score (NaN, from 0 * inf, counts as 0).
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// What the operation produced.
enum Outcome {
    Elements(Vec<(Vec<u8>, f64)>),
    Count(usize),
}

fn compute(inputs: &[(Input<'_>, f64)], op: Op, request: &Request<'_>, output: Output) -> Outcome {
    match op {
        Op::Inter => intersect(inputs, request, output),
        Op::Union => Outcome::Elements(unite(inputs, request.aggregate)),
        Op::Diff => Outcome::Elements(subtract(inputs)),
    }
}

fn intersect(inputs: &[(Input<'_>, f64)], request: &Request<'_>, output: Output) -> Outcome {
    let mut found = Vec::new();
    let mut count = 0usize;
    let (first, first_weight) = &inputs[0];
    first.for_each(|member, score| {
        let mut total = weighted(score, *first_weight);
        for (other, weight) in &inputs[1..] {
            match other.score(member) {
                Some(s) => aggregate(&mut total, s * weight, request.aggregate),
                None => return true,
            }
        }
        if output == Output::Cardinality {
            count += 1;
            return request.limit == 0 || count < request.limit;
        }
        found.push((member.to_vec(), total));
        true
    });
    if output == Output::Cardinality {
        Outcome::Count(count)
    } else {
        Outcome::Elements(found)
    }
}

fn unite(inputs: &[(Input<'_>, f64)], how: Aggregate) -> Vec<(Vec<u8>, f64)> {
    let largest = inputs.iter().map(|(i, _)| i.len()).max().unwrap_or(0);
    let mut totals: HashMap<Vec<u8>, f64> = HashMap::with_capacity(largest);
    for (input, weight) in inputs {
        input.for_each(|member, score| {
            let value = weighted(score, *weight);
            match totals.get_mut(member) {
                Some(total) => aggregate(total, value, how),
                None => {
                    totals.insert(member.to_vec(), value);
                }
            }
            true
        });
    }
    totals.into_iter().collect()
}

fn subtract(inputs: &[(Input<'_>, f64)]) -> Vec<(Vec<u8>, f64)> {
    let mut found = Vec::new();
    inputs[0].0.for_each(|member, score| {
        if inputs[1..].iter().all(|(other, _)| other.score(member).is_none()) {
            found.push((member.to_vec(), score));
        }
        true
    });
    found
}

fn run(ctx: &mut Ctx<'_>, argv: &[&[u8]], op: Op, output: Output) -> CmdResult {
    let numkeys_index = if output == Output::Store { 2 } else { 1 };
    let numkeys = parse_numkeys(ctx, argv, numkeys_index)?;
    let first_key = numkeys_index + 1;
    let keys = &argv[first_key..first_key + numkeys];
    let limits = super::limits(ctx);
    let (tx, out) = parts(ctx);
    // Look every input up first (expiry, statistics, type), as Redis does
    // before it reads the options.
    for key in keys {
        if let Some(entry) = tx.lookup(key, shoal_engine::Lookup::READ) {
            if !matches!(entry.value(), Value::ZSet(_) | Value::Set(_)) {
                return Err(CmdError::WrongType);
            }
        }
    }
    let request = parse_options(argv, first_key, numkeys, op, output)?;
    let db = tx.db;
    let mut inputs: Vec<(Input<'_>, f64)> = request
        .keys
        .iter()
        .zip(&request.weights)
        .map(|(key, weight)| {
            let input = match tx.peek_in(db, key).map(|e| e.value()) {
                Some(Value::ZSet(z)) => Input::Sorted(z),
                Some(Value::Set(s)) => Input::Plain(plain_set_members(s)),
                _ => Input::Missing,
            };
            (input, *weight)
        })
        .collect();
    if op != Op::Diff {
        // Smallest first: intersections then probe the larger ones.
        inputs.sort_by_key(|(input, _)| input.len());
    }
    let outcome = compute(&inputs, op, &request, output);
    drop(inputs);
    match outcome {
        Outcome::Count(n) => out.int(n as i64),
        Outcome::Elements(elements) if output == Output::Store => {
            let event = match op {
                Op::Union => events::ZUNIONSTORE,
                Op::Inter => events::ZINTERSTORE,
                Op::Diff => events::ZDIFFSTORE,
            };
            store_result(ctx, argv[1], ZSet::from_unique(elements, limits), event, 1);
        }
        Outcome::Elements(mut elements) => {
            elements.sort_by(|a, b| shoal_types::zset::compare(a.1, &a.0, b.1, &b.0));
            reply_elements_header(out, elements.len(), request.withscores);
            for (member, score) in &elements {
                reply_element(out, member, *score, request.withscores);
            }
        }
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Union, Output::Reply)
}

fn zinter(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Inter, Output::Reply)
}

fn zdiff(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Diff, Output::Reply)
}

fn zunionstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Union, Output::Store)
}

fn zinterstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Inter, Output::Store)
}

fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Diff, Output::Store)
}

fn zintercard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, Op::Inter, Output::Cardinality)
}

pub fn register(r: &mut Registrar) {
    r.keys("zunion", zunion);
    r.keys("zinter", zinter);
    r.keys("zdiff", zdiff);
    r.keys("zunionstore", zunionstore);
    r.keys("zinterstore", zinterstore);
    r.keys("zdiffstore", zdiffstore);
    r.keys("zintercard", zintercard);
}
