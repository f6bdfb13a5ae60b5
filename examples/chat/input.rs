//! What the user types. On a terminal, a small line editor (the terminal in non-canonical mode
//! through `stty`), so the client sees the first keystroke of a message and can send "typing";
//! otherwise (pipes, scripts) whole lines.

use std::process::{Command, Stdio};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines, Stdin};

/// One thing the user did.
pub enum Input {
    /// A complete line.
    Line(String),
    /// The first character of a line that is not a command: the user started a message.
    Started,
    /// End of input (Ctrl-D on an empty line, Ctrl-C, or the end of a pipe).
    End,
}

/// The terminal settings to restore on exit.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = stty(&[&self.0]);
    }
}

fn stty(args: &[&str]) -> Option<String> {
    let out = Command::new("stty")
        .args(args)
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub struct Keyboard {
    raw: Option<(Restore, Stdin)>,
    lines: Option<Lines<BufReader<Stdin>>>,
    editor: Editor,
}

/// The line being typed.
struct Editor {
    line: String,
    utf8: Vec<u8>,
    /// Inside an escape sequence (arrow keys ...): 1 after ESC, 2 after `ESC [`.
    escape: u8,
}

impl Keyboard {
    /// The line editor on a terminal, whole lines otherwise.
    pub fn open() -> Keyboard {
        use std::io::IsTerminal;
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let saved = terminal.then(|| stty(&["-g"])).flatten();
        let raw = saved.and_then(|saved| {
            stty(&["-icanon", "-echo", "-isig", "min", "1"])?;
            Some((Restore(saved), tokio::io::stdin()))
        });
        let lines = raw
            .is_none()
            .then(|| BufReader::new(tokio::io::stdin()).lines());
        Keyboard {
            raw,
            lines,
            editor: Editor {
                line: String::new(),
                utf8: Vec::new(),
                escape: 0,
            },
        }
    }

    /// What has been typed of the current line (to show again after an incoming line).
    pub fn current(&self) -> &str {
        &self.editor.line
    }

    /// The next input. Cancel safe: nothing typed is lost when another branch wins.
    pub async fn next(&mut self) -> Input {
        if let Some(lines) = &mut self.lines {
            return match lines.next_line().await {
                Ok(Some(line)) => Input::Line(line),
                _ => Input::End,
            };
        }
        let Some((_, stdin)) = &mut self.raw else {
            return Input::End;
        };
        let mut byte = [0u8; 1];
        loop {
            match stdin.read(&mut byte).await {
                Ok(1) => {}
                _ => return Input::End,
            }
            if let Some(input) = self.editor.key(byte[0]) {
                return input;
            }
        }
    }
}

impl Editor {
    /// Edits the line with one byte; echoes it.
    fn key(&mut self, b: u8) -> Option<Input> {
        match (self.escape, b) {
            (1, b'[') => self.escape = 2,
            (1, _) => self.escape = 0,
            (2, 0x40..=0x7e) => self.escape = 0,
            (2, _) => {}
            (_, 0x1b) => self.escape = 1,
            (_, b'\r' | b'\n') => {
                print!("\r\n");
                return Some(Input::Line(std::mem::take(&mut self.line)));
            }
            (_, 0x03) => return Some(Input::End),
            (_, 0x04) if self.line.is_empty() => return Some(Input::End),
            (_, 0x7f | 0x08) => {
                if self.line.pop().is_some() {
                    print!("\x08 \x08");
                }
            }
            (_, 0x15) => {
                // Ctrl-U: erase the line.
                for _ in self.line.chars() {
                    print!("\x08 \x08");
                }
                self.line.clear();
            }
            (_, b) if b < 0x20 => {}
            (_, b) => {
                self.utf8.push(b);
                if let Ok(text) = std::str::from_utf8(&self.utf8) {
                    let started = self.line.is_empty() && !text.starts_with('/');
                    print!("{text}");
                    self.line.push_str(text);
                    self.utf8.clear();
                    flush();
                    return started.then_some(Input::Started);
                }
                if self.utf8.len() >= 4 {
                    self.utf8.clear();
                }
            }
        }
        flush();
        None
    }
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
