//! `--device auto|cpu|cuda|cuda:N`.

use tch::Device;

/// Resolves a device name; `auto` picks CUDA when libtorch sees a GPU.
pub fn parse_device(name: &str) -> anyhow::Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    let cuda_count = || tch::Cuda::device_count().max(0) as usize;
    match name.as_str() {
        "auto" => Ok(if tch::Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        "cpu" => Ok(Device::Cpu),
        _ => {
            let index = match name.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!("invalid --device '{name}': use auto, cpu, cuda or cuda:N")
                    })?,
                None => anyhow::bail!("invalid --device '{name}': use auto, cpu, cuda or cuda:N"),
            };
            if index >= cuda_count() {
                anyhow::bail!(
                    "--device {name}: libtorch sees {} CUDA device(s). A CPU libtorch is installed by default; \
                     run scripts/setup.sh --cuda for the CUDA build",
                    cuda_count()
                );
            }
            Ok(Device::Cuda(index))
        }
    }
}

/// A short human-readable name.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!(
            "cpu ({} threads, {}={})",
            tch::get_num_threads(),
            crate::omp::WAIT_POLICY,
            crate::omp::wait_policy()
        ),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}
