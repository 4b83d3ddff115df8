fn main() {
    carekiosk_app::run()
}
