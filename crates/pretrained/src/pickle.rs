//! The subset of Python's pickle machine that PyTorch checkpoints use (protocols 2–4).
//!
//! Nothing is executed: `GLOBAL` pushes a name, `REDUCE` / `NEWOBJ` record the call
//! (`Value::Call`) for the caller to interpret, and persistent ids (`BINPERSID`, how
//! torch refers to tensor storages) become `Value::Persistent`. Lengths are checked
//! against the bytes left, so a truncated or hostile file is an error, never a panic
//! or a huge allocation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, as little-endian two's-complement bytes.
    Long(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Rc<RefCell<Vec<Value>>>),
    /// Items in insertion order (an `OrderedDict` keeps its order this way too).
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)`, with the state a later `BUILD` gave it.
    Call {
        callable: Box<Value>,
        args: Box<Value>,
        state: Option<Box<Value>>,
    },
    Persistent(Box<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            Value::Bool(value) => Some(*value as i64),
            _ => None,
        }
    }

    /// The items of a tuple or list.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(items) => Some(items.clone()),
            Value::List(items) => Some(items.borrow().clone()),
            _ => None,
        }
    }

    /// `module.name` of a global, or of the callable of a call.
    pub fn global_name(&self) -> Option<String> {
        match self {
            Value::Global { module, name } => Some(format!("{module}.{name}")),
            _ => None,
        }
    }

    /// A dict's value for a string key.
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(items) => items
                .borrow()
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }
}

/// Reads one pickle from `bytes[*position..]`, leaving `*position` just past its STOP.
pub fn load(bytes: &[u8], position: &mut usize) -> Result<Value, String> {
    Machine {
        bytes,
        position: *position,
        containers: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    }
    .run()
    .map(|(value, end)| {
        *position = end;
        value
    })
}

/// Containers (tuples, lists, dicts, calls, persistent ids) one pickle may create. A state
/// dict has a few per tensor (thousands in all); the bound caps how deeply values can nest,
/// so dropping or cloning them cannot exhaust the parser thread's stack (issue 21: 300,000
/// nested lists in a 0.9 MB file overflowed it).
pub const MAX_CONTAINERS: usize = 200_000;

struct Machine<'a> {
    bytes: &'a [u8],
    position: usize,
    /// Containers created so far ([`MAX_CONTAINERS`]).
    containers: usize,
    stack: Vec<Value>,
    /// Stacks saved by MARK (CPython's metastack).
    marks: Vec<Vec<Value>>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn run(mut self) -> Result<(Value, usize), String> {
        loop {
            let at = self.position;
            let opcode = self.take(1)?[0];
            if matches!(
                opcode,
                b')' | b't' | 0x85..=0x87 | b']' | b'l' | b'}' | b'd' | b'R' | 0x81 | b'Q'
            ) {
                self.containers += 1;
                if self.containers > MAX_CONTAINERS {
                    return Err(format!(
                        "more than {MAX_CONTAINERS} nested values at byte {at}: not a weights file"
                    ));
                }
            }
            match opcode {
                0x80 => {
                    let protocol = self.take(1)?[0];
                    if protocol > 5 {
                        return Err(format!("pickle protocol {protocol} at byte {at} is not supported"));
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    let value = self.pop()?;
                    return Ok((value, self.position));
                }
                b'(' => self.marks.push(std::mem::take(&mut self.stack)),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let value = i32::from_le_bytes(self.array()?);
                    self.stack.push(Value::Int(value as i64));
                }
                b'K' => {
                    let value = self.take(1)?[0];
                    self.stack.push(Value::Int(value as i64));
                }
                b'M' => {
                    let value = u16::from_le_bytes(self.array()?);
                    self.stack.push(Value::Int(value as i64));
                }
                0x8a => {
                    let length = self.take(1)?[0] as usize;
                    let value = long(self.take(length)?);
                    self.stack.push(value);
                }
                0x8b => {
                    let length = self.length32()?;
                    let value = long(self.take(length)?);
                    self.stack.push(value);
                }
                b'G' => {
                    let value = f64::from_be_bytes(self.array()?);
                    self.stack.push(Value::Float(value));
                }
                b'X' => {
                    let length = self.length32()?;
                    let text = self.text(length)?;
                    self.stack.push(Value::Str(text));
                }
                0x8c => {
                    let length = self.take(1)?[0] as usize;
                    let text = self.text(length)?;
                    self.stack.push(Value::Str(text));
                }
                0x8d => {
                    let length = self.length64()?;
                    let text = self.text(length)?;
                    self.stack.push(Value::Str(text));
                }
                // Python 2 byte strings: torch's legacy files name storages with them.
                b'T' | b'B' => {
                    let length = self.length32()?;
                    let data = self.take(length)?.to_vec();
                    self.stack.push(bytes_or_text(opcode, data));
                }
                b'U' | b'C' => {
                    let length = self.take(1)?[0] as usize;
                    let data = self.take(length)?.to_vec();
                    self.stack.push(bytes_or_text(opcode, data));
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let count = (opcode - 0x84) as usize;
                    if self.stack.len() < count {
                        return Err(format!("TUPLE{count} at byte {at} with a short stack"));
                    }
                    let items = self.stack.split_off(self.stack.len() - count);
                    self.stack.push(Value::Tuple(items));
                }
                b']' => self.stack.push(Value::List(Rc::default())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item], at)?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items, at)?;
                }
                b'}' => self.stack.push(Value::Dict(Rc::default())),
                b'd' => {
                    let items = pairs(self.pop_mark()?, at)?;
                    self.stack.push(Value::Dict(Rc::new(RefCell::new(items))));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)], at)?;
                }
                b'u' => {
                    let items = pairs(self.pop_mark()?, at)?;
                    self.set_items(items, at)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.stack.push(Value::Global { module, name }),
                        _ => return Err(format!("STACK_GLOBAL at byte {at} without two strings")),
                    }
                }
                b'q' => {
                    let key = self.take(1)?[0] as u32;
                    self.memoize(key)?;
                }
                b'r' => {
                    let key = u32::from_le_bytes(self.array()?);
                    self.memoize(key)?;
                }
                0x94 => {
                    let key = self.memo.len() as u32;
                    self.memoize(key)?;
                }
                b'h' => {
                    let key = self.take(1)?[0] as u32;
                    self.recall(key, at)?;
                }
                b'j' => {
                    let key = u32::from_le_bytes(self.array()?);
                    self.recall(key, at)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(call(callable, args));
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.stack.last_mut() {
                        Some(Value::Call { state: slot, .. }) => *slot = Some(Box::new(state)),
                        // A dict's BUILD state sets attributes (an OrderedDict's `_metadata`),
                        // not items: nothing a state dict's reader needs.
                        Some(Value::Dict(_)) => {}
                        _ => return Err(format!("BUILD at byte {at} on something that is not an object")),
                    }
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.stack.push(Value::Persistent(Box::new(id)));
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.stack.last().cloned().ok_or("DUP on an empty stack")?;
                    self.stack.push(top);
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x} at byte {at}")),
            }
        }
    }

    fn take(&mut self, count: usize) -> Result<&[u8], String> {
        let end = self
            .position
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("truncated: {count} bytes wanted at byte {}", self.position))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn length32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn length64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| "a length beyond memory".to_string())
    }

    fn text(&mut self, length: usize) -> Result<String, String> {
        let at = self.position;
        String::from_utf8(self.take(length)?.to_vec()).map_err(|_| format!("a string at byte {at} is not UTF-8"))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.position..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("truncated: a GLOBAL name at byte {}", self.position))?;
        let text = self.text(end)?;
        self.position += 1;
        Ok(text)
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| format!("pickle stack underflow at byte {}", self.position))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let saved = self
            .marks
            .pop()
            .ok_or_else(|| format!("no MARK before byte {}", self.position))?;
        Ok(std::mem::replace(&mut self.stack, saved))
    }

    fn memoize(&mut self, key: u32) -> Result<(), String> {
        let top = self.stack.last().cloned().ok_or("PUT on an empty stack")?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn recall(&mut self, key: u32, at: usize) -> Result<(), String> {
        let value = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("GET of unknown memo {key} at byte {at}"))?;
        self.stack.push(value);
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>, at: usize) -> Result<(), String> {
        match self.stack.last() {
            Some(Value::List(list)) => {
                list.borrow_mut().extend(items);
                Ok(())
            }
            _ => Err(format!("APPEND at byte {at} to something that is not a list")),
        }
    }

    fn set_items(&mut self, items: Vec<(Value, Value)>, at: usize) -> Result<(), String> {
        match self.stack.last() {
            Some(Value::Dict(dict)) => {
                dict.borrow_mut().extend(items);
                Ok(())
            }
            _ => Err(format!("SETITEM at byte {at} on something that is not a dict")),
        }
    }
}

/// `OrderedDict()` becomes a dict so that SETITEMS can fill it; other calls are kept.
fn call(callable: Value, args: Value) -> Value {
    if callable.global_name().as_deref() == Some("collections.OrderedDict") {
        return Value::Dict(Rc::default());
    }
    Value::Call {
        callable: Box::new(callable),
        args: Box::new(args),
        state: None,
    }
}

fn pairs(items: Vec<Value>, at: usize) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err(format!("an odd number of dict items before byte {at}"));
    }
    let mut iter = items.into_iter();
    let mut out = Vec::new();
    while let (Some(key), Some(value)) = (iter.next(), iter.next()) {
        out.push((key, value));
    }
    Ok(out)
}

fn long(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
        let mut full = [if negative { 0xff } else { 0 }; 8];
        full[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(full))
    } else {
        Value::Long(bytes.to_vec())
    }
}

/// BINSTRING / SHORT_BINSTRING (Python 2 `str`) read as text when it is UTF-8.
fn bytes_or_text(opcode: u8, data: Vec<u8>) -> Value {
    if matches!(opcode, b'T' | b'U') {
        match String::from_utf8(data) {
            Ok(text) => Value::Str(text),
            Err(error) => Value::Bytes(error.into_bytes()),
        }
    } else {
        Value::Bytes(data)
    }
}
