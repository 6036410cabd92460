//! Geohash arithmetic behind the GEO commands: coordinates packed into a
//! 52-bit integer by interleaving latitude and longitude bits (the score of
//! a geo member), the 3x3 grid of cells that covers a search area, and
//! great-circle distances.
//!
//! Results must equal redis-server's bit for bit (scores are visible, and
//! search results depend on cell boundaries), so the latitude range, the
//! Earth radius, the order of floating-point operations and the cell-size
//! heuristics follow Redis's definitions.

/// Latitudes are limited to what Web Mercator can represent.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
/// Bits per coordinate in a stored score (2 x 26 = 52).
pub const STEP_MAX: u8 = 26;
/// Mean Earth radius Redis uses (meters).
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Earth's circumference in Web Mercator meters.
const MERCATOR_MAX: f64 = 20037726.37;

/// Degrees to radians, computed as Redis computes it.
fn to_rad(deg: f64) -> f64 {
    deg * (std::f64::consts::PI / 180.0)
}

fn to_deg(rad: f64) -> f64 {
    rad / (std::f64::consts::PI / 180.0)
}

/// An interval of one coordinate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub min: f64,
    pub max: f64,
}

/// The coordinate ranges a hash is relative to.
#[derive(Clone, Copy, Debug)]
pub struct Ranges {
    pub lon: Span,
    pub lat: Span,
}

/// Redis's ranges for stored scores.
pub const WGS84: Ranges = Ranges { lon: Span { min: LON_MIN, max: LON_MAX }, lat: Span { min: LAT_MIN, max: LAT_MAX } };
/// The standard geohash ranges (for GEOHASH strings).
pub const STANDARD: Ranges = Ranges { lon: Span { min: -180.0, max: 180.0 }, lat: Span { min: -90.0, max: 90.0 } };

/// A cell: interleaved bits (latitude on even positions) at `step` bits per
/// coordinate. The all-zero value marks an unused cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    pub fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell's bits left-aligned to 52 bits (a score).
    pub fn align52(&self) -> u64 {
        self.bits << (52 - 2 * self.step as u32)
    }
}

/// The area a cell covers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Area {
    pub lon: Span,
    pub lat: Span,
}

/// Spreads the 32 bits of `v` to the even bit positions of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    for (shift, mask) in [
        (16, 0x0000_FFFF_0000_FFFFu64),
        (8, 0x00FF_00FF_00FF_00FF),
        (4, 0x0F0F_0F0F_0F0F_0F0F),
        (2, 0x3333_3333_3333_3333),
        (1, 0x5555_5555_5555_5555),
    ] {
        x = (x | (x << shift)) & mask;
    }
    x
}

/// Gathers the even bit positions of `x` into a u32 (inverse of `spread`).
fn gather(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    for (shift, mask) in [
        (1, 0x3333_3333_3333_3333u64),
        (2, 0x0F0F_0F0F_0F0F_0F0F),
        (4, 0x00FF_00FF_00FF_00FF),
        (8, 0x0000_FFFF_0000_FFFF),
        (16, 0x0000_0000_FFFF_FFFF),
    ] {
        x = (x | (x >> shift)) & mask;
    }
    x as u32
}

fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// (latitude, longitude) cell coordinates of interleaved bits.
fn deinterleave(bits: u64) -> (u32, u32) {
    (gather(bits), gather(bits >> 1))
}

/// The cell of `step` bits per coordinate containing (lon, lat), or None
/// outside the valid coordinates or the ranges.
pub fn encode(ranges: &Ranges, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < ranges.lat.min || lat > ranges.lat.max || lon < ranges.lon.min || lon > ranges.lon.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - ranges.lat.min) / (ranges.lat.max - ranges.lat.min) * cells;
    let lon_offset = (lon - ranges.lon.min) / (ranges.lon.max - ranges.lon.min) * cells;
    Some(Cell { bits: interleave(lat_offset as u32, lon_offset as u32), step })
}

/// The area of a cell.
pub fn decode(ranges: &Ranges, cell: Cell) -> Area {
    let (lat_cell, lon_cell) = deinterleave(cell.bits);
    let cells = (1u64 << cell.step) as f64;
    let lat_scale = ranges.lat.max - ranges.lat.min;
    let lon_scale = ranges.lon.max - ranges.lon.min;
    let edge = |start: f64, index: f64, scale: f64| start + (index / cells) * scale;
    Area {
        lat: Span {
            min: edge(ranges.lat.min, lat_cell as f64, lat_scale),
            max: edge(ranges.lat.min, lat_cell as f64 + 1.0, lat_scale),
        },
        lon: Span {
            min: edge(ranges.lon.min, lon_cell as f64, lon_scale),
            max: edge(ranges.lon.min, lon_cell as f64 + 1.0, lon_scale),
        },
    }
}

/// The centre of an area, clamped to the valid coordinates: (lon, lat).
fn centre(area: &Area) -> (f64, f64) {
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The score of a point (a 52-bit cell).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(&WGS84, lon, lat, STEP_MAX).map(|c| c.align52())
}

/// A score as the 64 bits Redis's `(uint64_t)score` gives on x86-64:
/// truncated; negative values wrap around; 2^64 and above (where the
/// conversion overflows) give 0.
pub fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // cvttsd2si: the truncated value, or i64::MIN when it does not fit.
    let convert = |x: f64| -> i64 { if x > -TWO_63 - 1025.0 && x < TWO_63 { x as i64 } else { i64::MIN } };
    if score < TWO_63 {
        convert(score) as u64
    } else {
        (convert(score - TWO_63) as u64) ^ (1 << 63)
    }
}

/// A score as Redis's `(long long)score` gives it on x86-64 (WITHHASH):
/// truncated, or i64::MIN when out of range.
pub fn score_as_i64(score: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&score) {
        score as i64
    } else {
        i64::MIN
    }
}

/// The (lon, lat) a stored score stands for.
pub fn point_of(score: f64) -> (f64, f64) {
    centre(&decode(&WGS84, Cell { bits: score_bits(score), step: STEP_MAX }))
}

/// The cell `dlon`, `dlat` (each -1, 0 or 1) cells away, wrapping around.
fn neighbour(cell: Cell, dlon: i32, dlat: i32) -> Cell {
    let (lat, lon) = deinterleave(cell.bits);
    let mask = ((1u64 << cell.step) - 1) as u32;
    let lat = (lat as i64 + dlat as i64) as u32 & mask;
    let lon = (lon as i64 + dlon as i64) as u32 & mask;
    Cell { bits: interleave(lat, lon), step: cell.step }
}

/// The search shape and its centre.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Radius, in the unit's meters factor applied (see `conversion`).
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    /// Meters per unit of the shape's dimensions.
    pub conversion: f64,
}

/// Cell steps for a search radius: large enough that the 3x3 grid around
/// the centre covers the radius (coarser near the poles).
fn steps_for_radius(mut meters: f64, lat: f64) -> u8 {
    if meters == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while meters < MERCATOR_MAX {
        meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, STEP_MAX as i32) as u8
}

/// The bounding box of the search area: (min lon, min lat, max lon, max lat).
fn bounding_box(search: &Search) -> [f64; 4] {
    let (lon, lat) = (search.lon, search.lat);
    let (half_height, half_width) = match search.shape {
        Shape::Circle { radius } => (radius, radius),
        Shape::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = search.conversion * half_height;
    let width = search.conversion * half_width;
    let lat_delta = to_deg(height / EARTH_RADIUS_M);
    let lon_delta_top = to_deg(width / EARTH_RADIUS_M / to_rad(lat + lat_delta).cos());
    let lon_delta_bottom = to_deg(width / EARTH_RADIUS_M / to_rad(lat - lat_delta).cos());
    // Meridians converge towards the pole: use the wider edge.
    let lon_delta = if lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
    [lon - lon_delta, lat - lat_delta, lon + lon_delta, lat + lat_delta]
}

/// The cells to scan for a search, in Redis's order: centre, N, S, E, W,
/// NE, NW, SE, SW. Unneeded cells are `Cell::default()`.
pub fn covering_cells(search: &Search) -> [Cell; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(search);
    let radius = match search.shape {
        Shape::Circle { radius } => radius,
        Shape::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * search.conversion;
    let mut step = steps_for_radius(radius, search.lat);
    let grid = |step: u8| {
        let centre_cell = encode(&WGS84, search.lon, search.lat, step).unwrap_or_default();
        let around = |dlon, dlat| neighbour(centre_cell, dlon, dlat);
        // centre, N, S, E, W, NE, NW, SE, SW
        [
            centre_cell,
            around(0, 1),
            around(0, -1),
            around(1, 0),
            around(-1, 0),
            around(1, 1),
            around(-1, 1),
            around(1, -1),
            around(-1, -1),
        ]
    };
    let mut cells = grid(step);
    // The estimate can be one step too fine when the area reaches past the
    // neighbouring cells: then use cells twice as large.
    let too_small = {
        let north = decode(&WGS84, cells[1]);
        let south = decode(&WGS84, cells[2]);
        let east = decode(&WGS84, cells[3]);
        let west = decode(&WGS84, cells[4]);
        north.lat.max < max_lat || south.lat.min > min_lat || east.lon.max < max_lon || west.lon.min > min_lon
    };
    if step > 1 && too_small {
        step -= 1;
        cells = grid(step);
    }
    if step >= 2 {
        let area = decode(&WGS84, cells[0]);
        let none = Cell::default();
        if area.lat.min < min_lat {
            for i in [2, 8, 7] {
                cells[i] = none;
            }
        }
        if area.lat.max > max_lat {
            for i in [1, 5, 6] {
                cells[i] = none;
            }
        }
        if area.lon.min < min_lon {
            for i in [4, 8, 6] {
                cells[i] = none;
            }
        }
        if area.lon.max > max_lon {
            for i in [3, 7, 5] {
                cells[i] = none;
            }
        }
    }
    cells
}

/// The score interval [min, max) of the members inside a cell.
pub fn score_interval(cell: Cell) -> (f64, f64) {
    let min = cell.align52();
    let max = Cell { bits: cell.bits + 1, step: cell.step }.align52();
    (min as f64, max as f64)
}

/// Distance along a meridian (meters).
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (to_rad(lat2) - to_rad(lat1)).abs()
}

/// Great-circle (haversine) distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((to_rad(lon2) - to_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (to_rad(lat1), to_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The distance from the search centre to (lon, lat) if the point lies in
/// the search area.
pub fn distance_if_inside(search: &Search, lon: f64, lat: f64) -> Option<f64> {
    match search.shape {
        Shape::Circle { radius } => {
            let d = distance(search.lon, search.lat, lon, lat);
            (d <= radius * search.conversion).then_some(d)
        }
        Shape::Box { width, height } => {
            let (width, height) = (width * search.conversion, height * search.conversion);
            if lat_distance(lat, search.lat) > height / 2.0 {
                return None;
            }
            if distance(lon, lat, search.lon, lat) > width / 2.0 {
                return None;
            }
            Some(distance(search.lon, search.lat, lon, lat))
        }
    }
}

/// The 11-character standard geohash of a stored score.
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = point_of(score);
    let bits = encode(&STANDARD, lon, lat, STEP_MAX).map_or(0, |c| c.bits);
    let mut out = [b'0'; 11];
    // 52 bits make ten 5-bit characters; the eleventh is always '0'.
    for (i, ch) in out.iter_mut().take(10).enumerate() {
        let index = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *ch = ALPHABET[index as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_convert_like_c_on_x86_64() {
        assert_eq!(score_bits(16.9), 16);
        assert_eq!(score_bits(-1.5), u64::MAX);
        assert_eq!(score_bits(1.8446744073709552e19), 0);
        assert_eq!(score_bits(f64::MAX), 0);
        assert_eq!(score_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_bits(9.3e18), 9_300_000_000_000_000_000);
    }

    #[test]
    fn interleaving_round_trips() {
        for (lat, lon) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x123_4567), (u32::MAX, 7)] {
            assert_eq!(deinterleave(interleave(lat, lon)), (lat, lon));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn scores_match_redis() {
        // Values redis-server 7.0 stores for these places.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(score_of(-73.9454966, 40.747533), Some(1791875804419201));
        assert!(score_of(200.0, 10.0).is_none());
        assert!(score_of(10.0, 86.0).is_none());
    }

    #[test]
    fn geohash_matches_the_wikipedia_example() {
        let score = score_of(-5.6, 42.6).unwrap() as f64;
        assert_eq!(&geohash_string(score), b"ezs42e44yx0");
    }

    #[test]
    fn neighbours_wrap() {
        let cell = Cell { bits: 0, step: 2 };
        let west = neighbour(cell, -1, 0);
        assert_eq!(deinterleave(west.bits), (0, 3));
        let north = neighbour(cell, 0, 1);
        assert_eq!(deinterleave(north.bits), (1, 0));
    }

    #[test]
    fn distances() {
        let (lon1, lat1) = point_of(3479099956230698.0);
        let (lon2, lat2) = point_of(3479447370796909.0);
        let d = distance(lon1, lat1, lon2, lat2);
        assert!(d > 166274.0 && d < 166275.0, "{d}");
        assert_eq!(distance(10.0, 20.0, 10.0, 21.0), lat_distance(20.0, 21.0));
    }
}
