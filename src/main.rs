fn main() {
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(|| async {
            println!("glommio ok");
        })
        .unwrap();
    ex.join().unwrap();
}
