//! placeholder, replaced by the nvme-ccr work
