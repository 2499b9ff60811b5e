// HTTPServer (being written)
