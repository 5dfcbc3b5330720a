//! Windows registry hives (regf): our own reader, with transaction-log replay in memory, built so
//! that an in-place writer can follow. No GPL code: written from the public format description.
