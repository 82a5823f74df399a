# The summary table of a model: format(), print() and summary().

# Rows of the summary table: one per layer (a model counts as one row).
nl_summary_rows <- function(model) {
  st <- nl_state(model)
  layers <- st$layers
  shape <- st$input_shape
  rows <- list()
  if (inherits(model, "nl_functional")) {
    for (t in st$inputs) {
      rows[[length(rows) + 1]] <- list(name = t$name, type = "InputLayer",
                                       shape = nl_format_shape(t$shape), params = 0, trainable = 0, built = TRUE, has_nt = FALSE)
    }
  }
  for (i in seq_along(layers)) {
    l <- layers[[i]]
    lst <- nl_state(l)
    out_shape <- "?"
    if (inherits(model, "nl_functional")) {
      nd <- Filter(function(nd) identical(nl_state(nd$layer), lst), st$nodes)
      out_shape <- nl_format_shape(nd[[length(nd)]]$shape)
    } else if (!is.null(shape)) {
      shape <- nl_layer_output_shape(l, shape)
      out_shape <- nl_format_shape(shape)
    }
    ws <- nl_layer_weights(l)
    tw <- nl_layer_weights(l, TRUE)
    rows[[length(rows) + 1]] <- list(
      name = lst$name, type = lst$class_name, shape = out_shape,
      params = sum(lengths(ws)), trainable = sum(lengths(tw)),
      built = isTRUE(lst$built), has_nt = sum(lengths(ws)) > sum(lengths(tw)),
      layer_trainable = isTRUE(lst$trainable)
    )
  }
  rows
}

nl_format_count <- function(n) formatC(n, format = "d", big.mark = ",")

nl_format_bytes <- function(n) {
  b <- n * 8
  if (b < 1024) return(sprintf("%d B", as.integer(b)))
  units <- c("KB", "MB", "GB", "TB")
  i <- 0
  while (b >= 1024 && i < length(units)) {
    b <- b / 1024
    i <- i + 1
  }
  sprintf("%.2f %s", b, units[i])
}

nl_box_chars <- function() {
  if (cli::is_utf8_output()) {
    list(h = "\u2500", v = "\u2502", tl = "\u250c", tr = "\u2510", bl = "\u2514",
         br = "\u2518", tj = "\u252c", bj = "\u2534", lj = "\u251c", rj = "\u2524", x = "\u253c")
  } else {
    list(h = "-", v = "|", tl = "+", tr = "+", bl = "+", br = "+", tj = "+", bj = "+",
         lj = "+", rj = "+", x = "+")
  }
}

#' @export
format.nl_model <- function(x, ...) {
  st <- nl_state(x)
  rows <- nl_summary_rows(x)
  show_tr <- any(vapply(rows, `[[`, TRUE, "has_nt")) || !isTRUE(st$trainable)
  cells <- lapply(rows, function(r) {
    c(sprintf("%s (%s)", r$name, r$type), r$shape,
      if (r$built || r$params > 0) nl_format_count(r$params) else "0 (unbuilt)",
      if (show_tr) (if (r$params == 0) "-" else if (isTRUE(r$layer_trainable)) "Y" else "N"))
  })
  header <- c("Layer (type)", "Output Shape", "Param #", if (show_tr) "Trainable")
  all <- c(list(header), cells)
  widths <- vapply(seq_along(header), function(j) max(nchar(vapply(all, `[`, "", j))), 1L)
  widths <- pmax(widths, c(30, 20, 10, 9)[seq_along(header)])
  right <- c(FALSE, FALSE, TRUE, FALSE)[seq_along(header)]
  bx <- nl_box_chars()
  line <- function(l, m, r) paste0(l, paste(strrep(bx$h, widths + 2), collapse = m), r)
  fmt_row <- function(v) {
    padded <- vapply(seq_along(v), function(j) {
      formatC(v[j], width = widths[j], flag = if (right[j]) " " else "-")
    }, "")
    paste0(bx$v, " ", paste(padded, collapse = paste0(" ", bx$v, " ")), " ", bx$v)
  }
  total <- sum(vapply(rows, `[[`, 1, "params"))
  trainable <- sum(vapply(rows, `[[`, 1, "trainable"))
  c(sprintf('Model: "%s"', st$name),
    line(bx$tl, bx$tj, bx$tr), fmt_row(header), line(bx$lj, bx$x, bx$rj),
    vapply(cells, fmt_row, ""),
    line(bx$bl, bx$bj, bx$br),
    sprintf(" Total params: %s (%s)", nl_format_count(total), nl_format_bytes(total)),
    sprintf(" Trainable params: %s (%s)", nl_format_count(trainable), nl_format_bytes(trainable)),
    sprintf(" Non-trainable params: %s (%s)", nl_format_count(total - trainable),
            nl_format_bytes(total - trainable)))
}

#' @export
print.nl_model <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' Summarise a model
#'
#' Prints the layers of a model with their output shapes and parameter counts,
#' followed by the total, trainable and non-trainable parameter counts (with
#' their size in memory as doubles).
#'
#' @param object A model.
#' @param ... Unused.
#' @returns The summary text, invisibly.
#' @export
#' @family models
#' @examples
#' model <- keras_model_sequential(input_shape = 4) |>
#'   layer_layer_normalization()
#' summary(model)
summary.nl_model <- function(object, ...) {
  txt <- format(object, ...)
  cat(txt, sep = "\n")
  invisible(txt)
}
