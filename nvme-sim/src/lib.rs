//! placeholder, replaced by the nvme-sim work
