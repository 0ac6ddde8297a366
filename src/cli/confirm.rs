//! Asking before changing infrastructure: a terminal prompt, or `--yes`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;

/// Returns Ok(true) to go ahead, Ok(false) if the user declined. Without `--yes`, stdin
/// must be a terminal: nova never changes infrastructure on piped input.
pub fn confirm(yes: bool, question: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to change infrastructure without confirmation: stdin is not a terminal; pass --yes to apply non-interactively");
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
