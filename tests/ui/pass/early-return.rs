//! `return` and `?` inside traced bodies return from the user's function, with its types.
use runtrace::prelude::*;

#[traced_run(kind = "parser")]
fn parse_sum(text: String) -> Result<u32, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let mut sum = 0;
    for part in text.split('+') {
        sum += part.trim().parse::<u32>()?;
    }
    Ok(sum)
}

#[traced_run(kind = "parser")]
async fn parse_async(text: String) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if text.is_empty() {
        return Err("empty".into());
    }
    Ok(text.parse::<u32>()?)
}

#[traced_run(kind = "tool")]
fn first_even(values: Vec<u32>) -> Option<u32> {
    for value in values {
        if value % 2 == 0 {
            return Some(value);
        }
    }
    None
}

#[traced_run(kind = "tool")]
fn checked(values: Vec<u32>) -> Option<u32> {
    let first = values.first()?;
    Some(first + 1)
}

fn main() {
    let none = CallbackManager::none();
    assert_eq!(parse_sum("1 + 2".into(), none), Ok(3));
    assert_eq!(parse_sum(String::new(), none), Ok(0));
    assert!(parse_sum("x".into(), none).is_err());
    assert!(futures::executor::block_on(parse_async(String::new(), none)).is_err());
    assert_eq!(futures::executor::block_on(parse_async("4".into(), none)).unwrap(), 4);
    assert_eq!(first_even(vec![1, 4], none), Some(4));
    assert_eq!(checked(vec![], none), None);
}
