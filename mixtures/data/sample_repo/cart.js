// A shopping cart for the shop's web page.

export function cartTotal(items) {
  let total = 0;
  for (const item of items) {
    total += item.quantity * item.unitPrice;
  }
  return total;
}

export function addToCart(cart, name, unitPrice) {
  const existing = cart.find((item) => item.name === name);
  if (existing) {
    existing.quantity += 1;
  } else {
    cart.push({ name, quantity: 1, unitPrice });
  }
  return cart;
}

export function removeFromCart(cart, name) {
  return cart.filter((item) => item.name !== name);
}
