//! The pool role's release: the one fixed set of figures a pool viewer may read, made so
//! that no figure about fewer than k tenants can be read off it, directly or by arithmetic.
//!
//! Withholding rows over fewer than k tenants is not enough: `total - (eu=EU)` gives the
//! withheld `non-EU` row back, and `(eu=non-EU) - (country=US)` gives the withheld rest of
//! the non-EU countries. So the pool does not get free queries; it gets one release, as a
//! statistical agency publishes tables:
//!
//! - the total and one-way tables (one per dimension), over every present store, no filters
//!   and no two-way tables (each extra query is another equation to subtract);
//! - **primary suppression**: a value held by fewer than k tenants is withheld;
//! - **complementary suppression**: within a table, more values are withheld until the
//!   withheld ones together cover at least k tenants; they are published as one merged
//!   "withheld" row, so the table still adds up to the total;
//! - an **audit** over the whole release: every set of stores the k rule protects (a value,
//!   what differencing two values isolates, the finest cell the release distinguishes) held
//!   by fewer than k tenants must not be a linear combination of the published figures;
//!   while one is, the smallest published value that touches it is withheld too.
//!
//! The release is a pure function of the stores (deterministic: the same map gives the same
//! release). Its limits are stated in the README (Security): figures of two releases at
//! different times can be subtracted, and a value of k or more tenants can still be
//! dominated by one of them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use landmeter_proto::v1::{StoreFilter, StoreView, SummaryRow};

/// One dimension of the release.
pub use crate::store::Dimension;
use crate::store::{GroupField, QueryStore, StoreError, TenantCell, ViewDimension};

/// The tables of a release, by the names `group_by` and the dashboard use. Tenant and
/// account are not among them: they are what the pool must not see.
pub const TABLES: [(&str, Dimension); 15] = [
    ("provider", Dimension::Field(GroupField::Provider)),
    ("region", Dimension::Field(GroupField::Region)),
    ("country", Dimension::Field(GroupField::Country)),
    ("eu", Dimension::Field(GroupField::Eu)),
    ("jurisdiction", Dimension::Field(GroupField::Jurisdiction)),
    ("cloud_act", Dimension::Field(GroupField::CloudAct)),
    ("custody", Dimension::Field(GroupField::Custody)),
    (
        "classification",
        Dimension::Field(GroupField::Classification),
    ),
    ("process", Dimension::Field(GroupField::Process)),
    ("kind", Dimension::Field(GroupField::Kind)),
    ("replication", Dimension::Field(GroupField::Replication)),
    ("readable", Dimension::Field(GroupField::Readable)),
    (
        "provider_parent",
        Dimension::View(ViewDimension::ProviderParent),
    ),
    ("sov2", Dimension::View(ViewDimension::Sov2)),
    ("sov3", Dimension::View(ViewDimension::Sov3)),
];

/// Stores, known bytes and stores of unknown size of a set of stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub stores: u64,
    pub bytes: i64,
    pub stores_without_size: u64,
}

impl Figures {
    fn of(view: &StoreView) -> Self {
        Figures {
            stores: 1,
            bytes: view.bytes.unwrap_or(0),
            stores_without_size: u64::from(view.size_unknown()),
        }
    }

    fn add(&mut self, other: Figures) {
        self.stores += other.stores;
        self.bytes += other.bytes;
        self.stores_without_size += other.stores_without_size;
    }

    fn row(self, keys: Vec<String>, withheld_cells: u32) -> SummaryRow {
        SummaryRow {
            keys,
            stores: self.stores,
            bytes: self.bytes,
            stores_without_size: self.stores_without_size,
            withheld_cells,
        }
    }
}

/// One value of a table and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub key: String,
    pub figures: Figures,
}

/// The values of a table withheld, merged into one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Withheld {
    pub cells: u32,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub dimension: Dimension,
    /// Published values, by key.
    pub rows: Vec<Published>,
    pub withheld: Option<Withheld>,
}

/// What the pool may read.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub min_tenants: u32,
    /// None: the pool holds fewer than k tenants, and nothing is released.
    pub total: Option<Figures>,
    pub tables: Vec<Table>,
}

impl Release {
    pub fn table(&self, dimension: Dimension) -> Option<&Table> {
        self.tables.iter().find(|t| t.dimension == dimension)
    }

    /// A table as summary rows: the published values, then the withheld row.
    pub fn rows(&self, dimension: Dimension) -> Vec<SummaryRow> {
        let Some(table) = self.table(dimension) else {
            return Vec::new();
        };
        let mut rows: Vec<SummaryRow> = table
            .rows
            .iter()
            .map(|p| p.figures.row(vec![p.key.clone()], 0))
            .collect();
        if let Some(w) = table.withheld {
            rows.push(w.figures.row(Vec::new(), w.cells));
        }
        rows
    }

    /// The answer to a pool `Summary`: the total, or one table.
    pub fn summary(&self, group_by: &[GroupField]) -> Result<Vec<SummaryRow>, StoreError> {
        match group_by {
            [] => Ok(self
                .total
                .map(|t| vec![t.row(Vec::new(), 0)])
                .unwrap_or_default()),
            [field] => Ok(self.rows(Dimension::Field(*field))),
            _ => Err(refused()),
        }
    }
}

fn refused() -> StoreError {
    StoreError::Forbidden(
        "the pool role reads the total and one-way tables of all present stores, without \
         filters or tenant and account (two figures of different queries could be \
         subtracted to reveal fewer than k tenants)"
            .into(),
    )
}

/// Refuses what the release does not answer: filters, two-way tables, tenant and account.
pub fn check_request(filter: &StoreFilter, group_by: &[GroupField]) -> Result<(), StoreError> {
    let released = |g: &GroupField| TABLES.iter().any(|(_, d)| *d == Dimension::Field(*g));
    if *filter != StoreFilter::default() || group_by.len() > 1 || !group_by.iter().all(released) {
        return Err(refused());
    }
    Ok(())
}

/// The release over every present store of `store`.
pub fn release(store: &dyn QueryStore, min_tenants: u32) -> Result<Release, StoreError> {
    let dimensions = TABLES.map(|(_, d)| d);
    let mut micro = Microdata::default();
    for cell in store.tenant_cells(&dimensions)? {
        micro.add_cell(cell);
    }
    Ok(micro.release(min_tenants))
}

/// The stores reduced to what the release needs: per combination of the tables' keys, its
/// tenants and figures.
#[derive(Default)]
pub struct Microdata {
    atoms: BTreeMap<Vec<String>, (BTreeSet<String>, Figures)>,
}

impl Microdata {
    pub fn add(&mut self, view: &StoreView) {
        let keys = TABLES.iter().map(|(_, d)| d.key(view)).collect();
        let atom = self.atoms.entry(keys).or_default();
        if !atom.0.contains(&view.tenant) {
            atom.0.insert(view.tenant.clone());
        }
        atom.1.add(Figures::of(view));
    }

    /// A tenant's stores with one combination of the tables' keys (in [`TABLES`] order), as
    /// [`QueryStore::tenant_cells`] gives them: the same as adding each of those stores.
    pub fn add_cell(&mut self, cell: TenantCell) {
        let atom = self.atoms.entry(cell.keys).or_default();
        atom.0.insert(cell.tenant);
        atom.1.add(Figures {
            stores: cell.stores,
            bytes: cell.bytes,
            stores_without_size: cell.stores_without_size,
        });
    }

    /// Distinct combinations of the tables' keys seen so far.
    pub fn atoms(&self) -> usize {
        self.atoms.len()
    }

    pub fn release(self, min_tenants: u32) -> Release {
        Suppression::new(self, min_tenants as usize).run()
    }
}

/// A combination of keys (one per table) with its tenants and figures.
struct Atom {
    cells: Vec<u32>,
    tenants: Vec<u32>,
    figures: Figures,
}

/// A value of a table.
struct Cell {
    key: String,
    atoms: Vec<usize>,
    tenants: usize,
    figures: Figures,
}

struct Suppression {
    k: usize,
    atoms: Vec<Atom>,
    /// Per table, its values in key order.
    cells: Vec<Vec<Cell>>,
    withheld: Vec<Vec<bool>>,
    total_tenants: usize,
}

fn count_tenants<'a>(atoms: impl Iterator<Item = &'a Atom>) -> usize {
    let mut seen = BTreeSet::new();
    for a in atoms {
        seen.extend(a.tenants.iter().copied());
    }
    seen.len()
}

/// Whether the atoms are held by fewer than `k` tenants; stops counting at k, so a large set
/// costs only its first few atoms.
fn fewer_tenants_than<'a>(k: usize, atoms: impl Iterator<Item = &'a Atom>) -> bool {
    let mut seen = BTreeSet::new();
    for a in atoms {
        seen.extend(a.tenants.iter().copied());
        if seen.len() >= k {
            return false;
        }
    }
    true
}

impl Suppression {
    fn new(micro: Microdata, k: usize) -> Self {
        let mut tenant_ids: BTreeMap<String, u32> = BTreeMap::new();
        let mut keys: Vec<BTreeMap<String, u32>> = vec![BTreeMap::new(); TABLES.len()];
        for (combo, (tenants, _)) in &micro.atoms {
            for (t, key) in combo.iter().enumerate() {
                keys[t].entry(key.clone()).or_insert(0);
            }
            for tenant in tenants {
                tenant_ids.entry(tenant.clone()).or_insert(0);
            }
        }
        // Ids in key order, so the release does not depend on the order stores were read.
        for table in keys.iter_mut() {
            for (i, id) in table.values_mut().enumerate() {
                *id = i as u32;
            }
        }
        for (i, id) in tenant_ids.values_mut().enumerate() {
            *id = i as u32;
        }
        let mut cells: Vec<Vec<Cell>> = keys
            .iter()
            .map(|table| {
                table
                    .keys()
                    .map(|key| Cell {
                        key: key.clone(),
                        atoms: Vec::new(),
                        tenants: 0,
                        figures: Figures::default(),
                    })
                    .collect()
            })
            .collect();
        let atoms: Vec<Atom> = micro
            .atoms
            .into_iter()
            .map(|(combo, (tenants, figures))| Atom {
                cells: combo
                    .iter()
                    .enumerate()
                    .map(|(t, key)| keys[t][key])
                    .collect(),
                tenants: tenants.iter().map(|t| tenant_ids[t]).collect(),
                figures,
            })
            .collect();
        for (i, atom) in atoms.iter().enumerate() {
            for (t, &c) in atom.cells.iter().enumerate() {
                let cell = &mut cells[t][c as usize];
                cell.atoms.push(i);
                cell.figures.add(atom.figures);
            }
        }
        for table in cells.iter_mut() {
            for cell in table.iter_mut() {
                cell.tenants = count_tenants(cell.atoms.iter().map(|&i| &atoms[i]));
            }
        }
        let withheld = cells
            .iter()
            .map(|table| table.iter().map(|c| c.tenants < k).collect())
            .collect();
        Suppression {
            k,
            atoms,
            cells,
            withheld,
            total_tenants: tenant_ids.len(),
        }
    }

    fn run(mut self) -> Release {
        if self.total_tenants < self.k || self.atoms.is_empty() {
            return Release {
                min_tenants: self.k as u32,
                total: None,
                tables: Vec::new(),
            };
        }
        // Each round withholds at least one more value or ends: it terminates.
        loop {
            if self.complementary() {
                continue;
            }
            if !self.audit() {
                break;
            }
        }
        self.publish()
    }

    /// Withholds, per table, the smallest published values until the withheld ones cover at
    /// least k tenants (or none is withheld). True when it withheld any.
    fn complementary(&mut self) -> bool {
        let mut changed = false;
        for t in 0..self.cells.len() {
            loop {
                let held: Vec<usize> = (0..self.cells[t].len())
                    .filter(|&c| self.withheld[t][c])
                    .collect();
                if held.is_empty() {
                    break;
                }
                let tenants = count_tenants(
                    held.iter()
                        .flat_map(|&c| self.cells[t][c].atoms.iter())
                        .map(|&i| &self.atoms[i]),
                );
                if tenants >= self.k {
                    break;
                }
                match self.smallest_published(t, |_| true) {
                    Some(c) => {
                        self.withheld[t][c] = true;
                        changed = true;
                    }
                    None => break,
                }
            }
        }
        changed
    }

    fn smallest_published(&self, t: usize, touches: impl Fn(usize) -> bool) -> Option<usize> {
        (0..self.cells[t].len())
            .filter(|&c| !self.withheld[t][c] && touches(c))
            .min_by_key(|&c| (self.cells[t][c].figures.stores, c))
    }

    /// Finds every protected set of fewer than k tenants that the published figures
    /// determine, and withholds, for each, the smallest published value touching it. True
    /// when it withheld any.
    fn audit(&mut self) -> bool {
        // Atoms the published values cannot tell apart form one class: a derivable set is a
        // union of classes, so the algebra runs over classes.
        let signature = |a: &Atom| -> Vec<u32> {
            a.cells
                .iter()
                .enumerate()
                .map(|(t, &c)| {
                    if self.withheld[t][c as usize] {
                        u32::MAX
                    } else {
                        c
                    }
                })
                .collect()
        };
        let mut class_of_signature: HashMap<Vec<u32>, usize> = HashMap::new();
        let class_of: Vec<usize> = self
            .atoms
            .iter()
            .map(|a| {
                let n = class_of_signature.len();
                *class_of_signature.entry(signature(a)).or_insert(n)
            })
            .collect();
        let classes = class_of_signature.len();
        let mut class_size = vec![0usize; classes];
        for &c in &class_of {
            class_size[c] += 1;
        }
        let mut basis = Basis::new(classes);
        basis.insert(vec![1; classes]);
        for (t, table) in self.cells.iter().enumerate() {
            for (c, cell) in table.iter().enumerate() {
                if !self.withheld[t][c] {
                    let mut v = vec![0; classes];
                    for &i in &cell.atoms {
                        v[class_of[i]] = 1;
                    }
                    basis.insert(v);
                }
            }
        }
        // The protected sets, as atoms: what differencing two values isolates, and classes.
        let mut protected = self.protected_sets();
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for (i, &c) in class_of.iter().enumerate() {
            by_class[c].push(i);
        }
        protected.extend(
            by_class
                .into_iter()
                .filter(|atoms| fewer_tenants_than(self.k, atoms.iter().map(|&i| &self.atoms[i]))),
        );

        let mut seen: HashSet<Vec<usize>> = HashSet::new();
        let mut to_withhold: BTreeSet<(usize, usize)> = BTreeSet::new();
        for atoms in protected {
            let mut count = vec![0usize; classes];
            for &i in &atoms {
                count[class_of[i]] += 1;
            }
            // A set that splits a class is not a combination of the published figures.
            if count
                .iter()
                .zip(&class_size)
                .any(|(&n, &s)| n != 0 && n != s)
            {
                continue;
            }
            let v: Vec<u64> = count.iter().map(|&n| u64::from(n != 0)).collect();
            let key: Vec<usize> = (0..classes).filter(|&c| v[c] != 0).collect();
            if !seen.insert(key) || !basis.spans(v) {
                continue;
            }
            if let Some(cell) = self.cheapest_touching(&atoms) {
                to_withhold.insert(cell);
            }
        }
        for &(t, c) in &to_withhold {
            self.withheld[t][c] = true;
        }
        !to_withhold.is_empty()
    }

    /// The smallest published value with a store in `atoms`, else the smallest published
    /// value of all (the set is derived from its complement).
    fn cheapest_touching(&self, atoms: &[usize]) -> Option<(usize, usize)> {
        let pick = |touching: bool| {
            (0..self.cells.len())
                .filter_map(|t| {
                    self.smallest_published(t, |c| {
                        !touching || atoms.iter().any(|&i| self.atoms[i].cells[t] as usize == c)
                    })
                    .map(|c| (self.cells[t][c].figures.stores, t, c))
                })
                .min()
                .map(|(_, t, c)| (t, c))
        };
        pick(true).or_else(|| pick(false))
    }

    /// The sets of stores the k rule protects that differencing two values can isolate,
    /// held by fewer than k tenants: each value; for a value u and another table T, u's
    /// part in each value t of T (u ∩ t), u without it (u \ t), u without all of T's
    /// published values inside u (the nested attack: non-EU minus its published
    /// countries), and u's part in T's withheld values.
    fn protected_sets(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        // Keeps the atoms of `u` that `select` picks when fewer than k tenants hold them.
        let mut keep = |u: &Cell, select: &dyn Fn(usize) -> bool| {
            let picked = || u.atoms.iter().copied().filter(|&i| select(i));
            if picked().next().is_some()
                && fewer_tenants_than(self.k, picked().map(|i| &self.atoms[i]))
            {
                out.push(picked().collect());
            }
        };
        for table in &self.cells {
            for u in table {
                if u.tenants < self.k {
                    keep(u, &|_| true);
                }
                for (t, others) in self.cells.iter().enumerate() {
                    let mut parts: BTreeMap<u32, usize> = BTreeMap::new();
                    for &i in &u.atoms {
                        *parts.entry(self.atoms[i].cells[t]).or_default() += 1;
                    }
                    if parts.len() < 2 {
                        continue; // u lies inside one value of T: nothing to split.
                    }
                    let value = |i: usize| self.atoms[i].cells[t];
                    for &c in parts.keys() {
                        keep(u, &|i| value(i) == c);
                        keep(u, &|i| value(i) != c);
                    }
                    let nested = |c: u32| {
                        !self.withheld[t][c as usize] && parts[&c] == others[c as usize].atoms.len()
                    };
                    keep(u, &|i| !nested(value(i)));
                    keep(u, &|i| self.withheld[t][value(i) as usize]);
                }
            }
        }
        out
    }

    fn publish(self) -> Release {
        let mut total = Figures::default();
        for a in &self.atoms {
            total.add(a.figures);
        }
        let tables = TABLES
            .iter()
            .zip(self.cells.iter().zip(&self.withheld))
            .map(|((name, dimension), (cells, withheld))| {
                let mut rows = Vec::new();
                let mut merged = Withheld {
                    cells: 0,
                    figures: Figures::default(),
                };
                for (cell, &held) in cells.iter().zip(withheld) {
                    if held {
                        merged.cells += 1;
                        merged.figures.add(cell.figures);
                    } else {
                        rows.push(Published {
                            key: cell.key.clone(),
                            figures: cell.figures,
                        });
                    }
                }
                Table {
                    name,
                    dimension: *dimension,
                    rows,
                    withheld: (merged.cells > 0).then_some(merged),
                }
            })
            .collect();
        Release {
            min_tenants: self.k as u32,
            total: Some(total),
            tables,
        }
    }
}

/// A row-echelon basis of vectors over the integers modulo a large prime. Membership in the
/// span mod p is implied by membership over the rationals, so a set reported as not derivable
/// is not; the converse can err only towards withholding more.
struct Basis {
    len: usize,
    rows: Vec<(usize, Vec<u64>)>,
}

const P: u64 = (1 << 61) - 1;

fn mul(a: u64, b: u64) -> u64 {
    // Reduction modulo a Mersenne prime: fold the high bits onto the low ones.
    let x = u128::from(a) * u128::from(b);
    let r = (x as u64 & P) + (x >> 61) as u64;
    let r = (r & P) + (r >> 61);
    if r >= P { r - P } else { r }
}

fn inverse(a: u64) -> u64 {
    // Fermat: a^(p-2).
    let (mut base, mut exp, mut out) = (a, P - 2, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            out = mul(out, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    out
}

impl Basis {
    fn new(len: usize) -> Self {
        Basis {
            len,
            rows: Vec::new(),
        }
    }

    fn reduce(&self, mut v: Vec<u64>) -> Vec<u64> {
        debug_assert_eq!(v.len(), self.len);
        for (pivot, row) in &self.rows {
            let f = v[*pivot];
            if f != 0 {
                for (x, r) in v.iter_mut().zip(row) {
                    *x = (*x + P - mul(f, *r)) % P;
                }
            }
        }
        v
    }

    fn insert(&mut self, v: Vec<u64>) {
        let v = self.reduce(v);
        if let Some(pivot) = v.iter().position(|&x| x != 0) {
            let inv = inverse(v[pivot]);
            self.rows
                .push((pivot, v.into_iter().map(|x| mul(x, inv)).collect()));
        }
    }

    fn spans(&self, v: Vec<u64>) -> bool {
        self.reduce(v).iter().all(|&x| x == 0)
    }
}

#[cfg(test)]
mod tests;
