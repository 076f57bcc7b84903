fn main() {
    std::process::exit(flowmap_train::cli::main());
}
