fn main() {
    flowmap_train::omp::wait_passively();
    std::process::exit(flowmap_train::cli::main());
}
