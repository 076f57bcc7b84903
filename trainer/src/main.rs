use clap::Parser;

fn main() {
    let cli = flowmap_train::cli::Cli::parse();
    match flowmap_train::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
