//! The checks of every exercise, written once against `super::exNN_*`.
//!
//! This file is included twice (see the crate's documentation): in `crate::stubs`,
//! where `super::ex01_join` is your `src/ex01_join.rs`, and in `crate::solutions`,
//! where it is `solutions/ex01_join.rs`. Read a check to see exactly what "solved" means.

use crate::check::Exercise;

// The exercises under test, for the check modules below (`super::ex01_join`, ...).
use super::{
    ex01_join, ex02_blocking, ex03_field, ex04_n_plus_one, ex05_transaction, ex06_streaming,
};

mod database;
mod ex01;
mod ex02;
mod ex03;
mod ex04;
mod ex05;
mod ex06;

/// Every exercise, in the order of the lecture.
pub const EXERCISES: &[Exercise] = &[
    Exercise {
        name: "ex01_join",
        checks: ex01::CHECKS,
    },
    Exercise {
        name: "ex02_blocking",
        checks: ex02::CHECKS,
    },
    Exercise {
        name: "ex03_field",
        checks: ex03::CHECKS,
    },
    Exercise {
        name: "ex04_n_plus_one",
        checks: ex04::CHECKS,
    },
    Exercise {
        name: "ex05_transaction",
        checks: ex05::CHECKS,
    },
    Exercise {
        name: "ex06_streaming",
        checks: ex06::CHECKS,
    },
];
