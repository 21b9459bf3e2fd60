fn main() {
    println!("img");
}
