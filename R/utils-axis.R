# Axis handling: keras3's rule. A positive axis is 1-based, a negative one counts
# from the end (-1 is the last), 0 is an error, a vector names several axes.
# The form of an axis argument is checked by nl_check_axis_arg() (R/checks.R);
# here axes are resolved against a rank.

# Resolves axes against a rank: returns sorted positive 1-based axes.
nl_resolve_axes <- function(axis, rank, arg = "axis", sort = TRUE,
                            call = rlang::caller_env()) {
  axis <- as.integer(axis)
  bad <- axis > rank | axis < -rank
  if (any(bad)) {
    nl_abort(c("{.arg {arg}} is out of range for an input of rank {rank}.",
               x = "You supplied {.arg {arg}} = {.val {axis[bad]}}.",
               i = "Use an axis between 1 and {rank}, or between -{rank} and -1."),
             "axis", call = call)
  }
  pos <- axis
  neg <- axis < 0L
  pos[neg] <- rank + axis[neg] + 1L
  if (length(pos) == 1L) return(pos)
  if (anyDuplicated(pos)) {
    nl_abort(c("{.arg {arg}} names the same axis twice.",
               x = "You supplied {.arg {arg}} = {.val {axis}}; for an input of rank {rank} these are axes {.val {pos}}.",
               i = "Give each axis once."),
             "axis", call = call)
  }
  if (sort) sort(pos) else pos
}

# Formats a shape the way Keras prints it: (None, 3).
nl_format_shape <- function(shape) {
  if (is.null(shape)) return("?")
  s <- ifelse(is.na(shape), "None", as.character(shape))
  if (length(s) == 1) return(paste0("(", s, ",)"))
  paste0("(", paste(s, collapse = ", "), ")")
}

# The axes a layer normalizes over, resolved for an input shape, and their
# sizes, which must be known (the layer's weights have them).
nl_reduced_axes_shape <- function(st, input_shape, call = rlang::caller_env()) {
  axes <- nl_resolve_axes(st$config$axis, length(input_shape))
  shape <- input_shape[axes]
  if (anyNA(shape)) {
    nl_abort(c("The axes normalized by layer {.val {st$name}} must have a known size.",
               x = "The input has shape {nl_format_shape(input_shape)} and {.arg axis} = {.val {st$config$axis}}."),
             "shape", call = call)
  }
  list(axes = axes, shape = shape)
}
