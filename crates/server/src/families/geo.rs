//! Geo commands: points stored in sorted sets, each member's score being
//! the 52-bit geohash of its coordinates (see `geohash`), exactly as Redis
//! stores them, so GEO keys are ordinary sorted sets to every other command.

mod geohash;

use shoal_engine::{events, Event};
use shoal_resp::ReplyBuf;
use shoal_types::zset::{AddFlags, ScoreRange, ZSet};

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::families::zsets::{self, AddRequest};
use geohash::{Search, Shape};

/// Decimals of distances in replies.
const DISTANCE_DECIMALS: i32 = 4;

/// Parses a longitude/latitude pair with Redis's checks.
fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let (lon, lat) = (parse::float(lon)?, parse::float(lat)?);
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon) || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat) {
        return Err(CmdError::err(format!("invalid longitude,latitude pair {},{}", printf_f(lon), printf_f(lat))));
    }
    Ok((lon, lat))
}

/// `%f` formatting.
fn printf_f(v: f64) -> String {
    let mut out = Vec::new();
    shoal_resp::number::write_f64_printf(&mut out, v, c"%f");
    String::from_utf8_lossy(&out).into_owned()
}

/// Meters per unit (M, KM, FT, MI).
fn parse_unit(arg: &[u8]) -> Result<f64, CmdError> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| parse::is(arg, name))
        .map(|(_, meters)| *meters)
        .ok_or_else(|| CmdError::err("unsupported unit provided. please use M, KM, FT, MI"))
}

/// `<radius> <unit>`: (radius, meters per unit).
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let radius = parse::float(radius).map_err(|_| CmdError::err("need numeric radius"))?;
    if radius < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((radius, parse_unit(unit)?))
}

/// `<width> <height> <unit>`: (width, height, meters per unit).
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let width = parse::float(width).map_err(|_| CmdError::err("need numeric width"))?;
    let height = parse::float(height).map_err(|_| CmdError::err("need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((width, height, parse_unit(unit)?))
}

/// A distance with four decimals, rounded half to even like `llrint`.
fn format_distance(d: f64) -> Vec<u8> {
    let scaled = (d * 10f64.powi(DISTANCE_DECIMALS)).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let magnitude = scaled.unsigned_abs();
    let unit = 10u64.pow(DISTANCE_DECIMALS as u32);
    format!("{sign}{}.{:04}", magnitude / unit, magnitude % unit).into_bytes()
}

/// A coordinate as Redis prints it: 17 decimals, trailing zeros dropped.
fn human_coordinate(v: f64) -> Vec<u8> {
    if v.is_infinite() {
        return if v > 0.0 { b"inf".to_vec() } else { b"-inf".to_vec() };
    }
    let mut text = Vec::new();
    shoal_resp::number::write_f64_printf(&mut text, v, c"%.17f");
    if text.contains(&b'.') {
        while text.last() == Some(&b'0') {
            text.pop();
        }
        if text.last() == Some(&b'.') {
            text.pop();
        }
    }
    if text == b"-0" {
        text = b"0".to_vec();
    }
    text
}

fn reply_coordinate(out: &mut ReplyBuf, v: f64) {
    out.double_text(&human_coordinate(v));
}

fn geoadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut ch = false;
    let mut first = 2;
    while first < argv.len() {
        match argv[first] {
            a if parse::is(a, "nx") => nx = true,
            a if parse::is(a, "xx") => xx = true,
            a if parse::is(a, "ch") => ch = true,
            _ => break,
        }
        first += 1;
    }
    let triples = &argv[first..];
    if !triples.chunks_exact(3).remainder().is_empty() || (nx && xx) || triples.is_empty() {
        return Err(CmdError::Syntax);
    }
    let mut scores = Vec::with_capacity(triples.len() / 3);
    for t in triples.chunks(3) {
        let (lon, lat) = parse_lon_lat(t[0], t[1])?;
        scores.push(geohash::score_of(lon, lat).unwrap_or(0));
    }
    let pairs = scores.iter().zip(triples.chunks(3)).map(|(s, t)| (*s as f64, t[2])).collect();
    let request = AddRequest { flags: AddFlags { nx, xx, ..AddFlags::default() }, ch, pairs };
    let dirty_before = ctx.tx().dirty;
    zsets::add_pairs(ctx, argv[1], &request)?;
    if ctx.tx().dirty > dirty_before {
        // Replicas receive the ZADD it amounts to, options as given.
        let mut zadd: Vec<Vec<u8>> = vec![b"zadd".to_vec()];
        zadd.extend(argv[1..first].iter().map(|a| a.to_vec()));
        for (score, t) in scores.iter().zip(triples.chunks(3)) {
            zadd.push(score.to_string().into_bytes());
            zadd.push(t[2].to_vec());
        }
        ctx.propagate_as(vec![zadd]);
    }
    Ok(())
}

fn geodist(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => parse_unit(argv[4])?,
        _ => return Err(CmdError::Syntax),
    };
    let (tx, out) = zsets::parts(ctx);
    let Some(set) = zsets::read_zset(tx, argv[1])? else {
        out.null();
        return Ok(());
    };
    match (set.score(argv[2]), set.score(argv[3])) {
        (Some(a), Some(b)) => {
            let (lon1, lat1) = geohash::point_of(a);
            let (lon2, lat2) = geohash::point_of(b);
            out.bulk(&format_distance(geohash::distance(lon1, lat1, lon2, lat2) / to_meters));
        }
        _ => out.null(),
    }
    Ok(())
}

fn geohash_cmd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (tx, out) = zsets::parts(ctx);
    let set = zsets::read_zset(tx, argv[1])?;
    out.array(argv.len() - 2);
    for member in &argv[2..] {
        match set.and_then(|z| z.score(member)) {
            Some(score) => out.bulk(&geohash::geohash_string(score)),
            None => out.null(),
        }
    }
    Ok(())
}

fn geopos(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (tx, out) = zsets::parts(ctx);
    let set = zsets::read_zset(tx, argv[1])?;
    out.array(argv.len() - 2);
    for member in &argv[2..] {
        match set.and_then(|z| z.score(member)) {
            Some(score) => {
                let (lon, lat) = geohash::point_of(score);
                out.array(2);
                reply_coordinate(out, lon);
                reply_coordinate(out, lat);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

/// The search command variants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS / GEORADIUS_RO (`store` false for _RO).
    Radius { store: bool },
    /// GEORADIUSBYMEMBER / GEORADIUSBYMEMBER_RO.
    ByMember { store: bool },
    Search,
    SearchStore,
}

impl Variant {
    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// STORE/STOREDIST with a key argument are accepted.
    fn takes_store_key(self) -> bool {
        matches!(self, Variant::Radius { store: true } | Variant::ByMember { store: true })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Everything a search was asked for.
struct Request<'a> {
    centre: Option<(f64, f64)>,
    shape: Option<(Shape, f64)>,
    from_member: bool,
    from_lonlat: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    count: usize,
    store: Option<&'a [u8]>,
    store_dist: bool,
}

/// A point found by a search.
struct Found {
    member: Vec<u8>,
    score: f64,
    lon: f64,
    lat: f64,
    /// Meters from the centre.
    dist: f64,
}

/// The centre of a member: its decoded position.
fn member_position(set: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    set.score(member).map(geohash::point_of).ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// Parses the search arguments from `base` on (Redis's order of checks).
fn parse_request<'a>(argv: &[&'a [u8]], variant: Variant, set: Option<&ZSet>) -> Result<Request<'a>, CmdError> {
    let mut r = Request {
        centre: None,
        shape: None,
        from_member: false,
        from_lonlat: false,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store: None,
        store_dist: false,
    };
    let base = match variant {
        Variant::Radius { .. } => {
            r.centre = Some(parse_lon_lat(argv[2], argv[3])?);
            let (radius, unit) = parse_radius(argv[4], argv[5])?;
            r.shape = Some((Shape::Circle { radius }, unit));
            6
        }
        Variant::ByMember { .. } => {
            // With no key, Redis skips to the options to pick its reply.
            if let Some(set) = set {
                r.centre = Some(member_position(set, argv[2])?);
                let (radius, unit) = parse_radius(argv[3], argv[4])?;
                r.shape = Some((Shape::Circle { radius }, unit));
            }
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            r.store = Some(argv[1]);
            3
        }
    };
    let search = variant.is_search();
    let mut i = base;
    while i < argv.len() {
        let arg = argv[i];
        let left = argv.len() - i - 1;
        if parse::is(arg, "withdist") {
            r.withdist = true;
        } else if parse::is(arg, "withhash") {
            r.withhash = true;
        } else if parse::is(arg, "withcoord") {
            r.withcoord = true;
        } else if parse::is(arg, "any") {
            r.any = true;
        } else if parse::is(arg, "asc") {
            r.sort = Sort::Asc;
        } else if parse::is(arg, "desc") {
            r.sort = Sort::Desc;
        } else if parse::is(arg, "count") && left >= 1 {
            let count = parse::int(argv[i + 1])?;
            if count <= 0 {
                return Err(CmdError::COUNT_OPTION_NOT_POSITIVE);
            }
            r.count = usize::try_from(count).unwrap_or(usize::MAX);
            i += 1;
        } else if (parse::is(arg, "store") || parse::is(arg, "storedist")) && left >= 1 && variant.takes_store_key() {
            r.store = Some(argv[i + 1]);
            r.store_dist = parse::is(arg, "storedist");
            i += 1;
        } else if parse::is(arg, "storedist") && variant == Variant::SearchStore {
            r.store_dist = true;
        } else if parse::is(arg, "frommember") && left >= 1 && search && !r.from_lonlat {
            if let Some(set) = set {
                r.centre = Some(member_position(set, argv[i + 1])?);
            }
            r.from_member = true;
            i += 1;
        } else if parse::is(arg, "fromlonlat") && left >= 2 && search && !r.from_member {
            r.centre = Some(parse_lon_lat(argv[i + 1], argv[i + 2])?);
            r.from_lonlat = true;
            i += 2;
        } else if parse::is(arg, "byradius") && left >= 2 && search && !matches!(r.shape, Some((Shape::Box { .. }, _))) {
            let (radius, unit) = parse_radius(argv[i + 1], argv[i + 2])?;
            r.shape = Some((Shape::Circle { radius }, unit));
            i += 2;
        } else if parse::is(arg, "bybox") && left >= 3 && search && !matches!(r.shape, Some((Shape::Circle { .. }, _))) {
            let (width, height, unit) = parse_box(argv[i + 1], argv[i + 2], argv[i + 3])?;
            r.shape = Some((Shape::Box { width, height }, unit));
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(r)
}

/// The checks Redis makes once all options are read.
fn check_request(r: &Request<'_>, variant: Variant, command: &[u8]) -> CmdResult {
    if r.store.is_some() && (r.withdist || r.withhash || r.withcoord) {
        let what = if variant == Variant::SearchStore { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::err(format!("{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")));
    }
    let name = String::from_utf8_lossy(command);
    if variant.is_search() && !r.from_lonlat && !r.from_member {
        return Err(CmdError::err(format!("exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if variant.is_search() && r.shape.is_none() {
        return Err(CmdError::err(format!("exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if r.any && r.count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// Collects the members inside the search area, cell by cell in Redis's
/// order, stopping at `limit` points (0: no limit).
fn find_points(set: &ZSet, search: &Search, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let cells = geohash::covering_cells(search);
    let mut last: Option<geohash::Cell> = None;
    for cell in cells {
        if cell.is_none() {
            continue;
        }
        // Huge areas can make neighbours coincide: scan each cell once.
        if last == Some(cell) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        let (min, max) = geohash::score_interval(cell);
        let range = ScoreRange { min, max, min_exclusive: false, max_exclusive: true };
        let (lo, hi) = set.score_span(&range);
        set.visit_ranks(lo, hi, false, |member, score| {
            if limit > 0 && found.len() >= limit {
                return;
            }
            let (lon, lat) = geohash::point_of(score);
            if let Some(dist) = geohash::distance_if_inside(search, lon, lat) {
                found.push(Found { member: member.to_vec(), score, lon, lat, dist });
            }
        });
        last = Some(cell);
    }
    found
}

/// Orders the results and keeps the first `keep`.
fn sort_points(points: &mut Vec<Found>, sort: Sort, keep: usize) {
    let by_distance = |a: &Found, b: &Found| a.dist.partial_cmp(&b.dist).unwrap_or(std::cmp::Ordering::Equal);
    match sort {
        Sort::None => {}
        Sort::Asc => points.sort_by(by_distance),
        Sort::Desc => points.sort_by(|a, b| by_distance(b, a)),
    }
    points.truncate(keep);
}

/// The event of a search that stores its result.
fn store_event(variant: Variant) -> Event {
    if variant.is_search() {
        events::GEOSEARCHSTORE
    } else {
        events::GEORADIUSSTORE
    }
}

fn search_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], variant: Variant) -> CmdResult {
    let src = if variant == Variant::SearchStore { argv[2] } else { argv[1] };
    let limits = zsets::limits(ctx);
    let (tx, out) = zsets::parts(ctx);
    let set = zsets::read_zset(tx, src)?;
    let mut request = parse_request(argv, variant, set)?;
    check_request(&request, variant, argv[0])?;
    let Some(set) = set else {
        if let Some(dest) = request.store {
            zsets::store_result(ctx, dest, ZSet::new(), store_event(variant), 0);
        } else {
            out.array(0);
        }
        return Ok(());
    };
    if request.count != 0 && request.sort == Sort::None && !request.any {
        // The nearest N need an order.
        request.sort = Sort::Asc;
    }
    let (Some((lon, lat)), Some((shape, conversion))) = (request.centre, request.shape) else {
        return Err(CmdError::Syntax);
    };
    let search = Search { lon, lat, shape, conversion };
    let mut points = find_points(set, &search, if request.any { request.count } else { 0 });
    let keep = if request.count == 0 { points.len() } else { points.len().min(request.count) };
    sort_points(&mut points, request.sort, keep);
    match request.store {
        None => reply_points(out, &points, &request, conversion),
        Some(dest) => {
            let mut seen = std::collections::HashSet::new();
            let entries: Vec<(Vec<u8>, f64)> = points
                .into_iter()
                .filter(|p| seen.insert(p.member.clone()))
                .map(|p| {
                    let score = if request.store_dist { p.dist / conversion } else { p.score };
                    (p.member, score)
                })
                .collect();
            let stored = entries.len() as u64;
            zsets::store_result(ctx, dest, ZSet::from_unique(entries, limits), store_event(variant), stored);
        }
    }
    Ok(())
}

fn reply_points(out: &mut ReplyBuf, points: &[Found], request: &Request<'_>, conversion: f64) {
    let extras = [request.withdist, request.withhash, request.withcoord].iter().filter(|b| **b).count();
    out.array(points.len());
    for p in points {
        if extras > 0 {
            out.array(extras + 1);
        }
        out.bulk(&p.member);
        if request.withdist {
            out.bulk(&format_distance(p.dist / conversion));
        }
        if request.withhash {
            out.int(geohash::score_as_i64(p.score));
        }
        if request.withcoord {
            out.array(2);
            reply_coordinate(out, p.lon);
            reply_coordinate(out, p.lat);
        }
    }
}

fn georadius(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search_generic(ctx, argv, Variant::Radius { store: true })
}

fn georadius_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search_generic(ctx, argv, Variant::Radius { store: false })
}

fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search_generic(ctx, argv, Variant::ByMember { store: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search_generic(ctx, argv, Variant::ByMember { store: false })
}

fn geosearch(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search_generic(ctx, argv, Variant::Search)
}

fn geosearchstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search_generic(ctx, argv, Variant::SearchStore)
}

pub fn register(r: &mut Registrar) {
    r.keys("geoadd", geoadd);
    r.keys("geodist", geodist);
    r.keys("geohash", geohash_cmd);
    r.keys("geopos", geopos);
    r.keys("georadius", georadius);
    r.keys("georadius_ro", georadius_ro);
    r.keys("georadiusbymember", georadiusbymember);
    r.keys("georadiusbymember_ro", georadiusbymember_ro);
    r.keys("geosearch", geosearch);
    r.keys("geosearchstore", geosearchstore);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_coordinate_text() {
        assert_eq!(format_distance(0.0), b"0.0000");
        assert_eq!(format_distance(0.00005), b"0.0000");
        assert_eq!(format_distance(0.775), b"0.7750");
        assert_eq!(format_distance(166274.15156960033), b"166274.1516");
        assert_eq!(human_coordinate(13.361389338970184), b"13.36138933897018433");
        assert_eq!(human_coordinate(10.0), b"10");
        assert_eq!(human_coordinate(-0.0), b"0");
    }
}
